/**
 * The part of the storage acceptance suite that covers `VersionStore`: versions and change records,
 * kept whatever compaction does, across restarts, and removed with the doc.
 */
import { expect, it } from 'vitest'
import { asDocId } from '@murmur/shared'
import type { DocKey, Storage, StoredVersion } from '../storage/index.js'

/** What these tests need of the suite's harness: the open storage, and a restart. */
export interface VersionHarness {
  readonly storage: Storage
  reopen(): Promise<Storage>
}

const key = (docId: string): DocKey => ({ engine: 'yjs', docId: asDocId(docId) })

function version(id: string, at: number, extra: Partial<StoredVersion> = {}): StoredVersion {
  return { id, name: `v ${id}`, kind: 'named', principal: 'alice', at, seq: 1, state: new Uint8Array([at & 0xff, 7]), ...extra }
}

/** Registers the version tests; `harness` gives the suite's harness of the running test. */
export function versionStoreTests(harness: () => VersionHarness): void {
  it('keeps versions through compaction and a restart, oldest first, and stores a known id once', async () => {
    const h = harness()
    const k = key('versioned')
    await h.storage.append(k, new Uint8Array([1]), { author: { principal: 'alice', ids: null } })
    await h.storage.putVersion(k, version('b', 2000))
    await h.storage.putVersion(k, version('a', 1000, { kind: 'auto', name: null, principal: 'anonymous' }))
    await h.storage.putVersion(k, version('a', 1000, { state: new Uint8Array([9, 9, 9]) }))
    await h.storage.compact(k, new Uint8Array([5]), 1)
    const storage = await h.reopen()
    const list = await storage.versions(k)
    expect(list.map((v) => v.id)).toEqual(['a', 'b'])
    expect(list[0]).toEqual({ id: 'a', name: null, kind: 'auto', principal: 'anonymous', at: 1000, seq: 1, bytes: 2 })
    expect(await storage.version(k, 'b')).toEqual(version('b', 2000))
    expect(await storage.version(k, 'nope')).toBeNull()
    expect(await storage.versions(key('other'))).toEqual([])
  })

  it('deletes one version, and every version and change record with the doc', async () => {
    const h = harness()
    const k = key('versions-deleted')
    await h.storage.append(k, new Uint8Array([1]))
    await h.storage.putVersion(k, version('a', 1))
    await h.storage.putVersion(k, version('b', 2))
    expect(await h.storage.deleteVersion(k, 'a')).toBe(true)
    expect(await h.storage.deleteVersion(k, 'a')).toBe(false)
    expect((await h.storage.versions(k)).map((v) => v.id)).toEqual(['b'])
    await h.storage.tombstone(k, 5)
    expect(await h.storage.versions(k)).toEqual([])
    expect(await h.storage.changes(k, 0, 100)).toEqual([])
  })

  it('remembers deleted version ids through a restart: a later put of one stores nothing, and every id is listed', async () => {
    const h = harness()
    const k = key('versions-tombstoned')
    await h.storage.append(k, new Uint8Array([1]))
    await h.storage.putVersion(k, version('kept', 1))
    await h.storage.putVersion(k, version('gone', 2))
    expect(await h.storage.deleteVersion(k, 'gone')).toBe(true)
    // A delete that arrives before its version (a replica): remembered all the same.
    expect(await h.storage.deleteVersion(k, 'early')).toBe(false)
    const storage = await h.reopen()
    await storage.putVersion(k, version('gone', 2))
    await storage.putVersion(k, version('early', 3))
    expect((await storage.versions(k)).map((v) => v.id)).toEqual(['kept'])
    expect(await storage.version(k, 'gone')).toBeNull()
    expect(await storage.deleteVersion(k, 'gone')).toBe(false)
    const ids = (await storage.versionIds()).filter((e) => e.key.docId === k.docId).map((e) => [e.id, e.deleted])
    expect(ids.sort()).toEqual([
      ['early', true],
      ['gone', true],
      ['kept', false],
    ])
    await storage.tombstone(k, 5)
    expect((await storage.versionIds()).filter((e) => e.key.docId === k.docId)).toEqual([])
  })

  it('records who made each stored update, and keeps the records through compaction and a restart', async () => {
    const h = harness()
    const k = key('attributed')
    const seqs = await Promise.all([
      h.storage.append(k, new Uint8Array([1]), { author: { principal: 'alice', ids: '[[1,0,3]]' } }),
      h.storage.append(k, new Uint8Array([2]), { author: { principal: 'bob', ids: null } }),
      h.storage.append(k, new Uint8Array([3])),
    ])
    await h.storage.compact(k, new Uint8Array([9]), seqs[2])
    const storage = await h.reopen()
    const changes = await storage.changes(k, 0, seqs[2])
    expect(changes.map((c) => [c.seq, c.principal, c.ids])).toEqual([
      [seqs[0], 'alice', '[[1,0,3]]'],
      [seqs[1], 'bob', null],
      [seqs[2], null, null],
    ])
    expect(changes.every((c) => c.at > 0)).toBe(true)
    expect((await storage.changes(k, seqs[0], seqs[1])).map((c) => c.principal)).toEqual(['bob'])
  })
}
