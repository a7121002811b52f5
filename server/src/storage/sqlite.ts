import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { crc32 } from './crc32.js'
import { GroupCommit, storageError, type LogEntry } from './group-commit.js'
import { asBytes, assertSeq, checkLog, historyLimit, pageLimit, toStoredDoc, versionUnavailable, type StoredEntry } from './log.js'
import type {
  DocHistory,
  DocKey,
  HistoryOptions,
  ListOptions,
  OutboxInput,
  OutboxMessage,
  Storage,
  StorageStats,
  StoredDoc,
  Tombstone,
} from './storage.js'

export interface SqliteStorageOptions {
  /** Database file; its directory is created if missing. */
  readonly path: string
  /** How long the first append of a batch waits for company before the commit. Default 2. */
  readonly groupCommitMs?: number
  /** A batch this large commits at once. Default 1024. */
  readonly maxBatch?: number
  /**
   * How long a write waits for a lock held by another connection (a backup, the sqlite3 CLI) before it
   * fails. better-sqlite3 waits synchronously, blocking the event loop, so keep it short. Default 1000.
   */
  readonly busyTimeoutMs?: number
}

/** Bumped when the schema changes; a database from a newer version is refused rather than misread. */
const SCHEMA_VERSION = 2

/*
 * `snapshots` has one row per doc that ever had anything stored. `last_seq` is the doc's high-water mark:
 * it only grows, so seqs are never reused, even after compaction or torn-tail recovery deleted the rows
 * that carried them.
 *
 * `updates` is clustered on (engine, doc_id, seq) (WITHOUT ROWID): loading a doc and deleting what a
 * compaction covers are both one contiguous range of the primary key.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  engine     TEXT    NOT NULL,
  doc_id     TEXT    NOT NULL,
  snapshot   BLOB,
  up_to_seq  INTEGER NOT NULL DEFAULT 0,
  last_seq   INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (engine, doc_id)
);
CREATE TABLE IF NOT EXISTS updates (
  engine TEXT    NOT NULL,
  doc_id TEXT    NOT NULL,
  seq    INTEGER NOT NULL,
  data   BLOB    NOT NULL,
  crc32  INTEGER NOT NULL,
  PRIMARY KEY (engine, doc_id, seq)
) WITHOUT ROWID;
`

/**
 * Version 2: commit times on log entries and snapshots (history), tombstones of deleted docs, and the
 * webhook outbox. Applied to version-1 files and to new ones alike, so both end with the same schema.
 */
const MIGRATE_TO_2 = `
ALTER TABLE updates ADD COLUMN at INTEGER;
ALTER TABLE snapshots ADD COLUMN snapshot_at INTEGER;
CREATE TABLE tombstones (
  engine     TEXT    NOT NULL,
  doc_id     TEXT    NOT NULL,
  deleted_at INTEGER NOT NULL,
  PRIMARY KEY (engine, doc_id)
) WITHOUT ROWID;
CREATE TABLE outbox (
  id         TEXT    PRIMARY KEY,
  body       TEXT    NOT NULL,
  due_at     INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX outbox_due ON outbox (due_at, id);
`

interface SnapshotRow {
  snapshot: Buffer | null
  up_to_seq: number
}
interface UpdateRow {
  seq: number
  data: Buffer
  crc32: number
}
interface OutboxRow {
  id: string
  body: string
  due_at: number
  attempts: number
  created_at: number
  last_error: string | null
}
interface KeyRow {
  engine: DocKey['engine']
  doc_id: string
}
type KeyArgs = [engine: string, docId: string]

/** Statements prepared once at open; better-sqlite3 re-prepares them itself if the schema changes. */
function prepare(db: Db) {
  return {
    lastSeq: db.prepare<KeyArgs, number>('SELECT last_seq FROM snapshots WHERE engine = ? AND doc_id = ?').pluck(),
    setLastSeq: db.prepare<[string, string, number, number]>(
      `INSERT INTO snapshots (engine, doc_id, last_seq, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    ),
    insertUpdate: db.prepare<[string, string, number, Uint8Array, number, number]>(
      'INSERT INTO updates (engine, doc_id, seq, data, crc32, at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    snapshot: db.prepare<KeyArgs, SnapshotRow>(
      'SELECT snapshot, up_to_seq FROM snapshots WHERE engine = ? AND doc_id = ?',
    ),
    updates: db.prepare<[string, string, number], UpdateRow>(
      'SELECT seq, data, crc32 FROM updates WHERE engine = ? AND doc_id = ? AND seq > ? ORDER BY seq',
    ),
    deleteRange: db.prepare<[string, string, number, number]>(
      'DELETE FROM updates WHERE engine = ? AND doc_id = ? AND seq >= ? AND seq <= ?',
    ),
    putSnapshot: db.prepare<[string, string, Uint8Array, number, number, number, number]>(
      `INSERT INTO snapshots (engine, doc_id, snapshot, up_to_seq, last_seq, updated_at, snapshot_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET snapshot = excluded.snapshot, up_to_seq = excluded.up_to_seq,
         last_seq = max(last_seq, excluded.last_seq), updated_at = excluded.updated_at, snapshot_at = excluded.snapshot_at`,
    ),
    deleteUpdates: db.prepare<KeyArgs>('DELETE FROM updates WHERE engine = ? AND doc_id = ?'),
    deleteDoc: db.prepare<KeyArgs>('DELETE FROM snapshots WHERE engine = ? AND doc_id = ?'),
    historyHead: db.prepare<KeyArgs, { bytes: number | null; up_to_seq: number; last_seq: number; snapshot_at: number | null }>(
      'SELECT length(snapshot) AS bytes, up_to_seq, last_seq, snapshot_at FROM snapshots WHERE engine = ? AND doc_id = ?',
    ),
    historyEntries: db.prepare<[string, string, number, number], { seq: number; bytes: number; at: number | null }>(
      'SELECT seq, length(data) AS bytes, at FROM updates WHERE engine = ? AND doc_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    updatesUpTo: db.prepare<[string, string, number, number], UpdateRow>(
      'SELECT seq, data, crc32 FROM updates WHERE engine = ? AND doc_id = ? AND seq > ? AND seq <= ? ORDER BY seq',
    ),
    putTombstone: db.prepare<[string, string, number]>(
      `INSERT INTO tombstones (engine, doc_id, deleted_at) VALUES (?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET deleted_at = excluded.deleted_at`,
    ),
    getTombstone: db.prepare<KeyArgs, { deleted_at: number }>('SELECT deleted_at FROM tombstones WHERE engine = ? AND doc_id = ?'),
    deleteTombstone: db.prepare<KeyArgs>('DELETE FROM tombstones WHERE engine = ? AND doc_id = ?'),
    outboxPut: db.prepare<[string, string, number, number]>(
      `INSERT INTO outbox (id, body, due_at, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET body = excluded.body, due_at = excluded.due_at`,
    ),
    outboxDue: db.prepare<[number, number], OutboxRow>('SELECT * FROM outbox WHERE due_at <= ? ORDER BY due_at, id LIMIT ?'),
    outboxRetry: db.prepare<[number, string, string]>('UPDATE outbox SET due_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?'),
    outboxDone: db.prepare<[string]>('DELETE FROM outbox WHERE id = ?'),
    outboxCount: db.prepare<[], number>('SELECT count(*) FROM outbox').pluck(),
  }
}

/** Runs a database call, turning whatever it throws into a storage error with a stable code. */
function guard<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof RangeError) throw err
    throw storageError(`sqlite: ${what} failed`, err)
  }
}

/** The embedded default backend: one SQLite file in WAL mode with synchronous=FULL, group-committed. */
export class SqliteStorage implements Storage {
  readonly description: string
  private readonly db: Db
  private readonly sql: ReturnType<typeof prepare>
  private readonly group: GroupCommit

  private constructor(path: string, db: Db, options: SqliteStorageOptions) {
    this.description = `sqlite:${path}`
    this.db = db
    this.sql = prepare(db)
    this.group = new GroupCommit({
      groupCommitMs: options.groupCommitMs ?? 2,
      maxBatch: options.maxBatch ?? 1024,
      commit: (batch) => this.commitBatch(batch),
    })
  }

  static async open(options: SqliteStorageOptions): Promise<SqliteStorage> {
    const path = resolve(options.path)
    mkdirSync(dirname(path), { recursive: true })
    const db = new Database(path)
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true })
      if (mode !== 'wal') throw new Error(`could not switch to WAL (journal_mode is ${String(mode)})`)
      // FULL makes every commit fsync the WAL: an acknowledged append survives power loss, not only a crash.
      db.pragma('synchronous = FULL')
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 1000))}`)
      const version = Number(db.pragma('user_version', { simple: true }))
      if (version > SCHEMA_VERSION) throw new Error(`schema version ${version} is newer than this server's`)
      db.transaction(() => {
        db.exec(SCHEMA)
        if (version < 2) db.exec(MIGRATE_TO_2)
        db.pragma(`user_version = ${SCHEMA_VERSION}`)
      }).immediate()
      return new SqliteStorage(path, db, options)
    } catch (err) {
      db.close()
      throw storageError(`sqlite: cannot open ${path}`, err)
    }
  }

  stats(): StorageStats {
    return this.group.stats()
  }

  async load(key: DocKey): Promise<StoredDoc | null> {
    this.assertOpen()
    return guard('load', () => this.loadDoc(key))
  }

  append(key: DocKey, update: Uint8Array): Promise<number> {
    return this.group.append({ key, data: update, crc: crc32(update) })
  }

  flush(): Promise<void> {
    return this.group.flush()
  }

  async compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void> {
    assertSeq(upToSeq)
    return this.group.exclusive(() => guard('compact', () => this.compactDoc(key, snapshot, upToSeq)))
  }

  async list(options: ListOptions = {}): Promise<DocKey[]> {
    this.assertOpen()
    const limit = pageLimit(options)
    const where = ['(s.snapshot IS NOT NULL OR EXISTS (SELECT 1 FROM updates u WHERE u.engine = s.engine AND u.doc_id = s.doc_id))']
    const args: (string | number)[] = []
    if (options.engine !== undefined) {
      where.push('s.engine = ?')
      args.push(options.engine)
    }
    if (options.after !== undefined) {
      if (options.afterEngine !== undefined && options.engine === undefined) {
        where.push('(s.engine, s.doc_id) > (?, ?)')
        args.push(options.afterEngine)
      } else {
        where.push('s.doc_id > ?')
      }
      args.push(options.after)
    }
    // LIMIT -1 is SQLite's "no limit"; a JS number past 2^63 would not bind.
    args.push(limit === Number.MAX_SAFE_INTEGER ? -1 : limit)
    const sql = `SELECT s.engine, s.doc_id FROM snapshots s WHERE ${where.join(' AND ')} ORDER BY s.engine, s.doc_id LIMIT ?`
    const rows = guard('list', () => this.db.prepare<(string | number)[], KeyRow>(sql).all(...args))
    return rows.map((r) => ({ engine: r.engine, docId: r.doc_id as DocKey['docId'] }))
  }

  async delete(key: DocKey): Promise<void> {
    return this.group.exclusive(() => guard('delete', () => this.deleteDoc(key, null)))
  }

  async history(key: DocKey, options: HistoryOptions = {}): Promise<DocHistory | null> {
    this.assertOpen()
    const limit = historyLimit(options.limit)
    return guard('history', () =>
      this.db.transaction((): DocHistory | null => {
        const head = this.sql.historyHead.get(key.engine, key.docId)
        if (!head) return null
        const after = Math.max(options.afterSeq ?? 0, head.up_to_seq)
        const entries = this.sql.historyEntries.all(key.engine, key.docId, after, limit)
        if (head.bytes === null && entries.length === 0 && (options.afterSeq ?? 0) === 0) return null
        return {
          snapshot: head.bytes === null ? null : { upToSeq: head.up_to_seq, bytes: head.bytes, at: head.snapshot_at },
          entries: entries.map((e) => ({ seq: e.seq, bytes: e.bytes, at: e.at })),
          lastSeq: head.last_seq,
        }
      })(),
    )
  }

  async loadAt(key: DocKey, seq: number): Promise<StoredDoc | null> {
    this.assertOpen()
    assertSeq(seq)
    const found = guard('loadAt', () =>
      this.db.transaction(() => {
        const row = this.sql.snapshot.get(key.engine, key.docId)
        if (!row) return null
        if (row.snapshot !== null && seq < row.up_to_seq) return { compacted: true as const, upToSeq: row.up_to_seq }
        const rows = this.sql.updatesUpTo.all(key.engine, key.docId, row.up_to_seq, seq)
        const log = checkLog(rows.map((r): StoredEntry => ({ seq: r.seq, data: asBytes(r.data), crc: r.crc32 })))
        return { compacted: false as const, doc: toStoredDoc(row.snapshot && asBytes(row.snapshot), row.up_to_seq, log) }
      })(),
    )
    if (found === null) return null
    if (found.compacted) throw versionUnavailable(seq, found.upToSeq)
    return found.doc
  }

  async tombstone(key: DocKey, deletedAt: number): Promise<void> {
    return this.group.exclusive(() => guard('tombstone', () => this.deleteDoc(key, deletedAt)))
  }

  async tombstoneOf(key: DocKey): Promise<Tombstone | null> {
    this.assertOpen()
    const row = guard('tombstoneOf', () => this.sql.getTombstone.get(key.engine, key.docId))
    return row ? { deletedAt: row.deleted_at } : null
  }

  onCommit(listener: (seconds: number, appends: number) => void): void {
    this.group.onCommit(listener)
  }

  async outboxPut(messages: readonly OutboxInput[]): Promise<void> {
    this.assertOpen()
    const now = Date.now()
    guard('outbox put', () =>
      this.db.transaction(() => {
        for (const m of messages) this.sql.outboxPut.run(m.id, m.body, m.dueAt, now)
      }).immediate(),
    )
  }

  async outboxDue(now: number, limit: number): Promise<OutboxMessage[]> {
    this.assertOpen()
    const rows = guard('outbox read', () => this.sql.outboxDue.all(now, limit))
    return rows.map((r) => ({ id: r.id, body: r.body, dueAt: r.due_at, attempts: r.attempts, createdAt: r.created_at, lastError: r.last_error }))
  }

  async outboxRetry(id: string, dueAt: number, error: string): Promise<void> {
    this.assertOpen()
    guard('outbox retry', () => this.sql.outboxRetry.run(dueAt, error, id))
  }

  async outboxDone(id: string): Promise<void> {
    this.assertOpen()
    guard('outbox done', () => this.sql.outboxDone.run(id))
  }

  async outboxCount(): Promise<number> {
    this.assertOpen()
    return guard('outbox count', () => this.sql.outboxCount.get() ?? 0)
  }

  close(): Promise<void> {
    return this.group.close(() => {
      if (this.db.open) this.db.close()
    })
  }

  private assertOpen(): void {
    if (this.group.closed) throw storageError('storage is closed')
  }

  /*
   * Write transactions start IMMEDIATE: a deferred one would read first and then fail at once when it
   * tries to upgrade to a write while another connection holds the lock, without waiting busy_timeout.
   */

  /** One transaction, one fsync, for the whole batch; seqs continue each doc's high-water mark. */
  private commitBatch(batch: readonly LogEntry[]): number[] {
    return this.db.transaction(() => {
      const last = new Map<string, { key: DocKey; seq: number }>()
      const now = Date.now()
      const seqs = batch.map(({ key, data, crc }) => {
        const k = `${key.engine}\u0000${key.docId}`
        const seq = (last.get(k)?.seq ?? this.sql.lastSeq.get(key.engine, key.docId) ?? 0) + 1
        last.set(k, { key, seq })
        this.sql.insertUpdate.run(key.engine, key.docId, seq, data, crc, now)
        return seq
      })
      for (const { key, seq } of last.values()) this.sql.setLastSeq.run(key.engine, key.docId, seq, now)
      return seqs
    }).immediate()
  }

  private loadDoc(key: DocKey): StoredDoc | null {
    return this.db.transaction(() => {
      const row = this.sql.snapshot.get(key.engine, key.docId)
      if (!row) return null
      const rows = this.sql.updates.all(key.engine, key.docId, row.up_to_seq)
      const log = checkLog(rows.map((r): StoredEntry => ({ seq: r.seq, data: asBytes(r.data), crc: r.crc32 })))
      if (log.firstCorruptSeq !== null) {
        // Delete the torn tail so the next appends continue a clean log; last_seq keeps their seqs new.
        this.sql.deleteRange.run(key.engine, key.docId, log.firstCorruptSeq, log.lastReadSeq)
      }
      return toStoredDoc(row.snapshot && asBytes(row.snapshot), row.up_to_seq, log)
    })()
  }

  private compactDoc(key: DocKey, snapshot: Uint8Array, upToSeq: number): void {
    this.db.transaction(() => {
      const row = this.sql.snapshot.get(key.engine, key.docId)
      if (row && upToSeq < row.up_to_seq) return
      const now = Date.now()
      this.sql.putSnapshot.run(key.engine, key.docId, snapshot, upToSeq, upToSeq, now, now)
      this.sql.deleteRange.run(key.engine, key.docId, 0, upToSeq)
    }).immediate()
  }

  /** Removes the doc's data; then records a tombstone (`deletedAt`) or removes any (null). */
  private deleteDoc(key: DocKey, deletedAt: number | null): void {
    this.db.transaction(() => {
      this.sql.deleteUpdates.run(key.engine, key.docId)
      this.sql.deleteDoc.run(key.engine, key.docId)
      if (deletedAt === null) this.sql.deleteTombstone.run(key.engine, key.docId)
      else this.sql.putTombstone.run(key.engine, key.docId, deletedAt)
    }).immediate()
  }
}
