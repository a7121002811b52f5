/**
 * The acceptance suite every Storage backend runs. A backend is done when this passes. Exported as
 * `@murmur/server/testing` (it needs vitest, which only that entry point imports).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { asDocId, type EngineName } from '@murmur/shared'
import type { DocKey, Storage, StorageStats } from '../storage/index.js'
import { versionStoreTests } from './version-acceptance.js'

/** Backends expose their group-commit counters; the suite uses them to see batching happen. */
export type TestedStorage = Storage & { stats(): StorageStats }

export interface StorageHarness {
  /** The currently open instance; `reopen` replaces it. */
  readonly storage: TestedStorage
  /** Close the current instance and open a new one over the same data: a restart. */
  reopen(): Promise<TestedStorage>
  /** Damage the newest log entry of a doc behind the backend's back, as a torn write or bit rot would. */
  corruptLastEntry(key: DocKey): Promise<void>
  /** Make every append transaction fail (true) or work again (false), as a full disk would. Optional. */
  failWrites?(fail: boolean): Promise<void>
  /** Close whatever is open and remove the data. */
  cleanup(): Promise<void>
}

const key = (docId: string, engine: EngineName = 'yjs'): DocKey => ({ engine, docId: asDocId(docId) })
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values)

/** Seeded, so a failure with random payloads replays exactly. */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

function expectIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1])
}

export function runStorageAcceptance(name: string, setup: () => Promise<StorageHarness>): void {
  describe(`Storage acceptance: ${name}`, () => {
    let h: StorageHarness

    beforeEach(async () => {
      h = await setup()
    })
    afterEach(async () => {
      await h.cleanup()
    })

    it('loads an unknown doc as null', async () => {
      expect(await h.storage.load(key('nobody'))).toBeNull()
    })

    it('keeps append order and gives increasing seqs', async () => {
      const k = key('ordered')
      const seqs: number[] = []
      for (let i = 0; i < 5; i++) seqs.push(await h.storage.append(k, bytes(i, i + 1)))
      expectIncreasing(seqs)
      expect(seqs[0]).toBeGreaterThanOrEqual(1)
      // Concurrent appends to one doc keep call order too: seqs and log follow it.
      const more = await Promise.all(Array.from({ length: 50 }, (_, i) => h.storage.append(k, bytes(100 + i))))
      expectIncreasing([...seqs, ...more])
      const doc = await h.storage.load(k)
      expect(doc?.updates).toEqual([...Array.from({ length: 5 }, (_, i) => bytes(i, i + 1)), ...more.map((_, i) => bytes(100 + i))])
      expect(doc?.lastSeq).toBe(more.at(-1))
      expect(doc?.updateBytes).toBe(5 * 2 + 50)
      expect(doc?.snapshot).toBeNull()
      expect(doc?.droppedCorrupt).toBe(0)
    })

    it('resolves 1000 concurrent appends across 10 docs, all present after reopen', async () => {
      const docs = Array.from({ length: 10 }, (_, d) => key(`many-${d}`))
      const payload = (d: number, i: number): Uint8Array => bytes(d, i & 0xff, i >> 8)
      const seqs = await Promise.all(
        Array.from({ length: 1000 }, (_, n) => h.storage.append(docs[n % 10], payload(n % 10, Math.floor(n / 10)))),
      )
      expect(seqs).toHaveLength(1000)
      const s = await h.reopen()
      for (let d = 0; d < 10; d++) {
        const doc = await s.load(docs[d])
        expect(doc?.updates).toEqual(Array.from({ length: 100 }, (_, i) => payload(d, i)))
        expect(doc?.lastSeq).toBe(seqs[990 + d])
      }
    })

    it('acknowledges an append only after the commit that made it durable, batching under concurrency', async () => {
      const before = h.storage.stats()
      const acks = Array.from({ length: 1000 }, (_, n) => {
        const commitsAtCall = h.storage.stats().commits
        return h.storage.append(key(`batched-${n % 10}`), bytes(n & 0xff)).then(() => {
          // A backend that resolved before committing would still show the old count here.
          expect(h.storage.stats().commits).toBeGreaterThan(commitsAtCall)
        })
      })
      await Promise.all(acks)
      const after = h.storage.stats()
      const appends = after.appends - before.appends
      const commits = after.commits - before.commits
      expect(appends).toBe(1000)
      expect(commits).toBeGreaterThanOrEqual(1)
      expect(commits * 10).toBeLessThanOrEqual(appends)
    })

    it('flush resolves after everything appended before it is durable', async () => {
      await h.storage.flush() // nothing pending: resolves at once
      const k = key('flushed')
      let acked = 0
      const pending = Array.from({ length: 20 }, (_, i) => h.storage.append(k, bytes(i)).then(() => void acked++))
      await h.storage.flush()
      expect(acked).toBe(20)
      await Promise.all(pending)
      expect((await h.reopen().then((s) => s.load(k)))?.updates).toHaveLength(20)
    })

    it('close commits pending appends and is idempotent', async () => {
      const k = key('closing')
      const pending = h.storage.append(k, bytes(42))
      await h.storage.close()
      await expect(pending).resolves.toBeGreaterThanOrEqual(1)
      await h.storage.close()
      expect((await h.reopen().then((s) => s.load(k)))?.updates).toEqual([bytes(42)])
    })

    it('compaction keeps later entries, drops covered ones, and seqs keep increasing', async () => {
      const k = key('compacted')
      const seqs: number[] = []
      for (let i = 1; i <= 5; i++) seqs.push(await h.storage.append(k, bytes(i)))
      await h.storage.compact(k, bytes(0xaa, 3), seqs[2])
      let doc = await h.storage.load(k)
      expect(doc?.snapshot).toEqual(bytes(0xaa, 3))
      expect(doc?.updates).toEqual([bytes(4), bytes(5)])
      expect(doc?.lastSeq).toBe(seqs[4])
      expect(doc?.updateBytes).toBe(2)

      // An older compaction arriving late must not overwrite the newer snapshot.
      await h.storage.compact(k, bytes(0xbb), seqs[1])
      expect((await h.storage.load(k))?.snapshot).toEqual(bytes(0xaa, 3))

      // Compacting everything, then restarting: the next seq still follows the highest ever given.
      await h.storage.compact(k, bytes(0xcc, 5), seqs[4])
      let s = await h.reopen()
      doc = await s.load(k)
      expect(doc).toMatchObject({ snapshot: bytes(0xcc, 5), updates: [], lastSeq: seqs[4], updateBytes: 0 })
      const next = await s.append(k, bytes(6))
      expect(next).toBeGreaterThan(seqs[4])
      s = await h.reopen()
      doc = await s.load(k)
      expect(doc).toMatchObject({ snapshot: bytes(0xcc, 5), updates: [bytes(6)], lastSeq: next })
    })

    it('compaction waits for pending appends of the doc', async () => {
      const k = key('compact-pending')
      const first = await h.storage.append(k, bytes(1))
      const later = h.storage.append(k, bytes(2))
      await h.storage.compact(k, bytes(0xee), first)
      const doc = await h.storage.load(k)
      expect(doc?.updates).toEqual([bytes(2)])
      expect(doc?.lastSeq).toBe(await later)
    })

    it('lists by (engine, docId) with engine filter and paging', async () => {
      const ids = ['b', 'a', 'c', 'd', 'e']
      for (const id of ids) await h.storage.append(key(id), bytes(1))
      await h.storage.append(key('a', 'automerge'), bytes(1))
      await h.storage.compact(key('snap-only', 'automerge'), bytes(9), 0)
      await h.storage.append(key('gone'), bytes(1))
      await h.storage.tombstone(key('gone'), 1)

      const all = await h.storage.list()
      expect(all).toEqual([key('a', 'automerge'), key('snap-only', 'automerge'), ...['a', 'b', 'c', 'd', 'e'].map((id) => key(id))])
      expect(await h.storage.list({ engine: 'automerge' })).toEqual([key('a', 'automerge'), key('snap-only', 'automerge')])

      const pages: DocKey[][] = []
      let after: string | undefined
      for (;;) {
        const page = await h.storage.list({ engine: 'yjs', after, limit: 2 })
        if (page.length === 0) break
        pages.push(page)
        after = page.at(-1)?.docId
      }
      expect(pages.map((p) => p.map((x) => x.docId))).toEqual([['a', 'b'], ['c', 'd'], ['e']])

      // Paging across engines continues after (engine, docId) of the previous page's last doc.
      const seen: DocKey[] = []
      let last: DocKey | undefined
      for (;;) {
        const page = await h.storage.list({ after: last?.docId, afterEngine: last?.engine, limit: 3 })
        if (page.length === 0) break
        seen.push(...page)
        last = page.at(-1)
      }
      expect(seen).toEqual(all)
      expect(await h.storage.list({ limit: 0 })).toEqual([])
    })

    it('tombstones a doc and nothing else', async () => {
      await h.storage.append(key('doomed'), bytes(1))
      await h.storage.compact(key('doomed'), bytes(2), 1)
      await h.storage.append(key('doomed'), bytes(3))
      await h.storage.append(key('kept'), bytes(4))
      await h.storage.tombstone(key('doomed'), 1)
      await h.storage.tombstone(key('never-existed'), 2)
      expect(await h.storage.load(key('doomed'))).toBeNull()
      expect(await h.storage.list()).toEqual([key('kept')])
      const s = await h.reopen()
      expect(await s.load(key('doomed'))).toBeNull()
      expect((await s.load(key('kept')))?.updates).toEqual([bytes(4)])
      expect(await s.tombstoneOf(key('never-existed'))).toEqual({ deletedAt: 2 })
    })

    it('keeps two engines with the same docId apart', async () => {
      const y = key('shared-id', 'yjs')
      const a = key('shared-id', 'automerge')
      const sy = await h.storage.append(y, bytes(1))
      const sa = await h.storage.append(a, bytes(2))
      await h.storage.append(a, bytes(3))
      await h.storage.compact(a, bytes(0xa), sa)
      expect(await h.storage.load(y)).toMatchObject({ snapshot: null, updates: [bytes(1)], lastSeq: sy })
      expect(await h.storage.load(a)).toMatchObject({ snapshot: bytes(0xa), updates: [bytes(3)] })
      await h.storage.tombstone(y, 1)
      expect((await h.storage.load(a))?.updates).toEqual([bytes(3)])
      expect(await h.storage.tombstoneOf(a)).toBeNull()
    })

    it('round-trips every byte value, empty and 1 MB payloads, in the log and in snapshots', async () => {
      const k = key('binary')
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)
      const big = seededBytes(1 << 20, 0x5eed)
      const payloads = [everyByte, new Uint8Array(0), big, everyByte.slice().reverse()]
      for (const p of payloads) await h.storage.append(k, p)
      let doc = await h.reopen().then((s) => s.load(k))
      expect(doc?.updates.length).toBe(payloads.length)
      doc?.updates.forEach((u, i) => expect(Buffer.from(u).equals(Buffer.from(payloads[i]))).toBe(true))
      expect(doc?.updateBytes).toBe(256 + 0 + (1 << 20) + 256)

      await h.storage.compact(k, big, doc?.lastSeq ?? 0)
      await h.storage.compact(key('empty-snapshot'), new Uint8Array(0), 0)
      doc = await h.reopen().then((s) => s.load(k))
      expect(Buffer.from(doc?.snapshot ?? []).equals(Buffer.from(big))).toBe(true)
      expect((await h.storage.load(key('empty-snapshot')))?.snapshot).toEqual(new Uint8Array(0))
    })

    it('recovers a corrupt tail: keeps what precedes it, counts the drop, appends continue and survive', async () => {
      const k = key('torn')
      const seqs: number[] = []
      for (let i = 1; i <= 5; i++) seqs.push(await h.storage.append(k, bytes(i, i)))
      await h.corruptLastEntry(k)
      let doc = await h.reopen().then((s) => s.load(k))
      expect(doc).toMatchObject({ updates: [1, 2, 3, 4].map((i) => bytes(i, i)), lastSeq: seqs[3], droppedCorrupt: 1 })

      const next = await h.storage.append(k, bytes(6))
      expect(next).toBeGreaterThan(seqs[4]) // the dropped entry's seq was handed out once: never again
      doc = await h.storage.load(k)
      expect(doc).toMatchObject({ updates: [...[1, 2, 3, 4].map((i) => bytes(i, i)), bytes(6)], lastSeq: next, droppedCorrupt: 0 })
      doc = await h.reopen().then((s) => s.load(k))
      expect(doc).toMatchObject({ updates: [...[1, 2, 3, 4].map((i) => bytes(i, i)), bytes(6)], droppedCorrupt: 0 })
    })

    it('drops everything from the first corrupt entry onward', async () => {
      const k = key('rotten-middle')
      await h.storage.append(k, bytes(1))
      await h.storage.append(k, bytes(2))
      await h.corruptLastEntry(k)
      await h.storage.append(k, bytes(3))
      await h.storage.append(k, new Uint8Array(0))
      const doc = await h.storage.load(k)
      expect(doc).toMatchObject({ updates: [bytes(1)], droppedCorrupt: 3, updateBytes: 1 })
      expect(await h.storage.load(k)).toMatchObject({ updates: [bytes(1)], droppedCorrupt: 0 })
    })

    it('reports a doc whose whole log was corrupt instead of pretending it never existed', async () => {
      const k = key('all-bad')
      await h.storage.append(k, new Uint8Array(0))
      await h.corruptLastEntry(k)
      expect(await h.storage.load(k)).toMatchObject({ snapshot: null, updates: [], droppedCorrupt: 1 })
    })

    it('rejects appends and reads on a closed storage instead of resolving', async () => {
      await h.storage.close()
      await expect(h.storage.append(key('late'), bytes(1))).rejects.toMatchObject({ code: 'MUR_ERR_STORAGE_FAILED' })
      await expect(h.storage.load(key('late'))).rejects.toThrow()
      await expect(h.storage.list()).rejects.toThrow()
      await expect(h.storage.compact(key('late'), bytes(1), 0)).rejects.toThrow()
      await expect(h.storage.tombstone(key('late'), 1)).rejects.toThrow()
    })

    it('lists history: the snapshot and the entries after it, with seqs, sizes and commit times, paged', async () => {
      const k = key('historic')
      expect(await h.storage.history(k)).toBeNull()
      const before = Date.now()
      const seqs: number[] = []
      for (let i = 1; i <= 5; i++) seqs.push(await h.storage.append(k, new Uint8Array(i)))
      let hist = await h.storage.history(k)
      expect(hist?.snapshot).toBeNull()
      expect(hist?.entries.map((e) => [e.seq, e.bytes])).toEqual(seqs.map((seq, i) => [seq, i + 1]))
      expect(hist?.lastSeq).toBe(seqs[4])
      for (const e of hist?.entries ?? []) {
        expect(e.at).toBeGreaterThanOrEqual(before - 1000)
        expect(e.at).toBeLessThanOrEqual(Date.now() + 1000)
      }
      const page = await h.storage.history(k, { afterSeq: seqs[1], limit: 2 })
      expect(page?.entries.map((e) => e.seq)).toEqual([seqs[2], seqs[3]])

      await h.storage.compact(k, bytes(7, 7, 7), seqs[2])
      hist = await h.reopen().then((s) => s.history(k))
      expect(hist?.snapshot).toMatchObject({ upToSeq: seqs[2], bytes: 3 })
      expect(hist?.snapshot?.at).toBeGreaterThanOrEqual(before - 1000)
      expect(hist?.entries.map((e) => e.seq)).toEqual([seqs[3], seqs[4]])
    })

    it('loads a doc as it was at a seq, and refuses seqs folded into the snapshot', async () => {
      const k = key('time-travel')
      expect(await h.storage.loadAt(k, 1)).toBeNull()
      const seqs: number[] = []
      for (let i = 1; i <= 4; i++) seqs.push(await h.storage.append(k, bytes(i)))
      expect((await h.storage.loadAt(k, seqs[1]))?.updates).toEqual([bytes(1), bytes(2)])
      expect((await h.storage.loadAt(k, seqs[3] + 100))?.updates).toEqual([1, 2, 3, 4].map((i) => bytes(i)))
      await h.storage.compact(k, bytes(0xab), seqs[1])
      const at = await h.storage.loadAt(k, seqs[2])
      expect(at).toMatchObject({ snapshot: bytes(0xab), updates: [bytes(3)] })
      expect((await h.storage.loadAt(k, seqs[1]))?.updates).toEqual([])
      await expect(h.storage.loadAt(k, seqs[0])).rejects.toMatchObject({ code: 'MUR_ERR_VERSION_UNAVAILABLE' })
      // A read of the past changes nothing.
      expect((await h.storage.load(k))?.updates).toEqual([bytes(3), bytes(4)])
    })

    it('tombstones a doc: its data goes, the tombstone stays across restarts', async () => {
      const k = key('tombstoned')
      const pending = h.storage.append(k, bytes(1))
      await h.storage.tombstone(k, 1_700_000_000_000)
      await pending
      expect(await h.storage.load(k)).toBeNull()
      expect(await h.storage.history(k)).toBeNull()
      expect(await h.storage.tombstoneOf(k)).toEqual({ deletedAt: 1_700_000_000_000 })
      expect(await h.storage.tombstoneOf(key('tombstoned', 'automerge'))).toBeNull()
      expect(await h.storage.list()).toEqual([])
      const s = await h.reopen()
      expect(await s.tombstoneOf(k)).toEqual({ deletedAt: 1_700_000_000_000 })
    })

    it('lists tombstones with their times, in (engine, docId) order, paged like list', async () => {
      expect(await h.storage.listTombstones()).toEqual([])
      await h.storage.append(key('kept'), bytes(1))
      await h.storage.tombstone(key('b'), 2)
      await h.storage.tombstone(key('a', 'automerge'), 3)
      await h.storage.tombstone(key('a'), 1)
      await h.storage.tombstone(key('c'), 4)
      const all = [
        { engine: 'automerge', docId: 'a', deletedAt: 3 },
        { engine: 'yjs', docId: 'a', deletedAt: 1 },
        { engine: 'yjs', docId: 'b', deletedAt: 2 },
        { engine: 'yjs', docId: 'c', deletedAt: 4 },
      ]
      expect(await h.storage.listTombstones()).toEqual(all)
      expect(await h.storage.listTombstones({ limit: 2 })).toEqual(all.slice(0, 2))
      expect(await h.storage.listTombstones({ after: 'a', afterEngine: 'yjs', limit: 10 })).toEqual(all.slice(2))
      expect(await h.storage.listTombstones({ engine: 'yjs', after: 'a' })).toEqual(all.slice(2))
      const s = await h.reopen()
      expect(await s.listTombstones({ engine: 'automerge' })).toEqual(all.slice(0, 1))
    })

    it('keeps hints across restarts: put is idempotent, delete forgets one peer\'s', async () => {
      expect(await h.storage.hints()).toEqual([])
      await h.storage.putHints([
        { peer: 'node-c', doc: key('x') },
        { peer: 'node-b', doc: key('y') },
        { peer: 'node-c', doc: key('a', 'automerge') },
      ])
      await h.storage.putHints([{ peer: 'node-c', doc: key('x') }])
      await h.storage.putHints([])
      const all = [
        { peer: 'node-b', doc: key('y') },
        { peer: 'node-c', doc: key('a', 'automerge') },
        { peer: 'node-c', doc: key('x') },
      ]
      expect(await h.storage.hints()).toEqual(all)
      const s = await h.reopen()
      expect(await s.hints()).toEqual(all)
      await s.deleteHints('node-c')
      await s.deleteHints('node-unknown')
      expect(await s.hints()).toEqual(all.slice(0, 1))
      const again = await h.reopen()
      expect(await again.hints()).toEqual(all.slice(0, 1))
    })

    it('keeps an outbox: put, due in order, retry with attempts, done, across restarts', async () => {
      expect(await h.storage.outboxCount()).toBe(0)
      await h.storage.outboxPut([{ id: 'b', body: '{"n":2}', dueAt: 2000 }])
      await h.storage.outboxPut([
        { id: 'a', body: '{"n":0}', dueAt: 1000 },
        { id: 'c', body: '{"n":3}', dueAt: 9000 },
        // The same id twice in one call: the later one counts.
        { id: 'a', body: '{"n":1}', dueAt: 1000 },
      ])
      await h.storage.outboxPut([])
      expect((await h.storage.outboxDue(5000, 10)).map((m) => m.id)).toEqual(['a', 'b'])
      expect((await h.storage.outboxDue(5000, 1)).map((m) => m.id)).toEqual(['a'])
      await h.storage.outboxRetry('a', 3000, 'HTTP 503')
      let s = await h.reopen()
      const due = await s.outboxDue(5000, 10)
      expect(due.map((m) => [m.id, m.attempts, m.dueAt])).toEqual([['b', 0, 2000], ['a', 1, 3000]])
      expect(due[1]).toMatchObject({ body: '{"n":1}', lastError: 'HTTP 503' })
      expect(due[1].createdAt).toBeGreaterThan(0)
      // A put with a known id replaces body and due time but keeps the attempts.
      await s.outboxPut([{ id: 'a', body: '{"n":11}', dueAt: 100 }])
      expect(await s.outboxDue(150, 10)).toMatchObject([{ id: 'a', body: '{"n":11}', attempts: 1 }])
      await s.outboxDone('a')
      await s.outboxDone('never-there')
      expect(await s.outboxCount()).toBe(2)
      s = await h.reopen()
      expect((await s.outboxDue(Number.MAX_SAFE_INTEGER, 10)).map((m) => m.id)).toEqual(['b', 'c'])
    })

    it('keeps the trace contexts of an outbox message, replaced with its body, across restarts', async () => {
      const first = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
      const second = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
      await h.storage.outboxPut([
        { id: 'traced', body: '{}', dueAt: 1000, trace: [first] },
        { id: 'untraced', body: '{}', dueAt: 1000 },
      ])
      await h.storage.outboxPut([{ id: 'traced', body: '{"n":2}', dueAt: 1000, trace: [first, second] }])
      const s = await h.reopen()
      const due = await s.outboxDue(5000, 10)
      expect(due.map((m) => [m.id, m.trace])).toEqual([
        ['traced', [first, second]],
        ['untraced', []],
      ])
    })

    it('reports every group commit with its duration and size', async () => {
      const seen: [number, number][] = []
      h.storage.onCommit((seconds, appends) => seen.push([seconds, appends]))
      await Promise.all(Array.from({ length: 20 }, (_, i) => h.storage.append(key('observed'), bytes(i))))
      expect(seen.reduce((n, [, a]) => n + a, 0)).toBe(20)
      for (const [seconds] of seen) expect(seconds).toBeGreaterThanOrEqual(0)
    })

    it('rejects every append of a batch whose transaction fails, and recovers afterwards', async ({ skip }) => {
      if (!h.failWrites) return skip('this harness cannot inject write failures')
      const k = key('failing')
      const kept = await h.storage.append(k, bytes(1))
      await h.failWrites(true)
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => h.storage.append(k, bytes(10 + i))))
      expect(results.every((r) => r.status === 'rejected')).toBe(true)
      await expect(h.storage.flush()).resolves.toBeUndefined()
      await h.failWrites(false)
      const after = await h.storage.append(k, bytes(2))
      expect(after).toBeGreaterThan(kept)
      const doc = await h.reopen().then((s) => s.load(k))
      expect(doc?.updates).toEqual([bytes(1), bytes(2)])
      expect(doc?.lastSeq).toBe(after)
    })

    versionStoreTests(() => h)
  })
}
