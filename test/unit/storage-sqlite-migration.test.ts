import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it, onTestFinished } from 'vitest'
import { asDocId } from '@murmur/shared'
import { SqliteStorage, crc32 } from '../../server/dist/storage/index.js'
import { MIGRATE_TO_2, MIGRATE_TO_3, MIGRATE_TO_4, SCHEMA } from '../../server/dist/storage/sqlite-schema.js'

/** The schema version 1 wrote, as an older server left it on disk. */
const V1 = `
CREATE TABLE snapshots (engine TEXT NOT NULL, doc_id TEXT NOT NULL, snapshot BLOB, up_to_seq INTEGER NOT NULL DEFAULT 0,
  last_seq INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL, PRIMARY KEY (engine, doc_id));
CREATE TABLE updates (engine TEXT NOT NULL, doc_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
  crc32 INTEGER NOT NULL, PRIMARY KEY (engine, doc_id, seq)) WITHOUT ROWID;
PRAGMA user_version = 1;
`

describe('SQLite schema upgrade', () => {
  it('opens a version-1 file: its docs load, history shows unknown times, the outbox, tombstones and hints work', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'murmur-migrate-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'murmur.db')
    const db = new Database(path)
    db.exec(V1)
    const data = Buffer.from([1, 2, 3])
    db.prepare('INSERT INTO snapshots (engine, doc_id, last_seq, updated_at) VALUES (?, ?, ?, ?)').run('yjs', 'old', 1, Date.now())
    db.prepare('INSERT INTO updates (engine, doc_id, seq, data, crc32) VALUES (?, ?, ?, ?, ?)').run('yjs', 'old', 1, data, crc32(data))
    db.close()

    const storage = await SqliteStorage.open({ path })
    onTestFinished(() => storage.close())
    const key = { engine: 'yjs' as const, docId: asDocId('old') }
    expect((await storage.load(key))?.updates).toEqual([new Uint8Array([1, 2, 3])])
    expect((await storage.history(key))?.entries).toEqual([{ seq: 1, bytes: 3, at: null }])
    const seq = await storage.append(key, new Uint8Array([4]))
    expect((await storage.history(key))?.entries.at(-1)?.at).toBeGreaterThan(0)
    expect(seq).toBe(2)
    await storage.outboxPut([{ id: 'x', body: '{}', dueAt: 0 }])
    expect(await storage.outboxCount()).toBe(1)
    // Version 3: versions and change records; the old update has no change record.
    expect(await storage.changes(key, 0, 2)).toEqual([expect.objectContaining({ seq: 2, principal: null })])
    await storage.putVersion(key, { id: 'v', name: 'kept', kind: 'named', principal: 'p', at: 1, seq: 2, state: new Uint8Array([1]) })
    expect((await storage.versions(key)).map((v) => v.name)).toEqual(['kept'])
    await storage.tombstone(key, 1)
    expect(await storage.tombstoneOf(key)).toEqual({ deletedAt: 1 })
    // Version 4: hints of hinted handoff.
    await storage.putHints([{ peer: 'node-b', doc: key }])
    expect(await storage.hints()).toEqual([{ peer: 'node-b', doc: key }])
    await storage.close()
    const check = new Database(path, { readonly: true })
    expect(check.pragma('user_version', { simple: true })).toBe(5)
    check.close()
  })

  it('opens a version-4 file: a queued webhook message stays, without trace contexts; new ones keep theirs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'murmur-migrate-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'murmur.db')
    const db = new Database(path)
    db.exec(SCHEMA + MIGRATE_TO_2 + MIGRATE_TO_3 + MIGRATE_TO_4)
    db.pragma('user_version = 4')
    db.prepare('INSERT INTO outbox (id, body, due_at, created_at) VALUES (?, ?, ?, ?)').run('queued', '{"event":"doc.changed"}', 5, 1)
    db.close()

    const storage = await SqliteStorage.open({ path })
    onTestFinished(() => storage.close())
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    await storage.outboxPut([{ id: 'new', body: '{}', dueAt: 6, trace: [traceparent] }])
    expect((await storage.outboxDue(10, 10)).map((m) => [m.id, m.body, m.trace])).toEqual([
      ['queued', '{"event":"doc.changed"}', []],
      ['new', '{}', [traceparent]],
    ])
    await storage.close()
    const check = new Database(path, { readonly: true })
    expect(check.pragma('user_version', { simple: true })).toBe(5)
    check.close()
  })
})
