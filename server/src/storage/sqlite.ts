import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { crc32 } from './crc32.js'
import { GroupCommit, storageError, type LogEntry } from './group-commit.js'
import { asBytes, assertSeq, checkLog, pageLimit, toStoredDoc, type StoredEntry } from './log.js'
import type { DocKey, ListOptions, Storage, StorageStats, StoredDoc } from './storage.js'

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
const SCHEMA_VERSION = 1

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

interface SnapshotRow {
  snapshot: Buffer | null
  up_to_seq: number
}
interface UpdateRow {
  seq: number
  data: Buffer
  crc32: number
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
    insertUpdate: db.prepare<[string, string, number, Uint8Array, number]>(
      'INSERT INTO updates (engine, doc_id, seq, data, crc32) VALUES (?, ?, ?, ?, ?)',
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
    putSnapshot: db.prepare<[string, string, Uint8Array, number, number, number]>(
      `INSERT INTO snapshots (engine, doc_id, snapshot, up_to_seq, last_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET snapshot = excluded.snapshot, up_to_seq = excluded.up_to_seq,
         last_seq = max(last_seq, excluded.last_seq), updated_at = excluded.updated_at`,
    ),
    deleteUpdates: db.prepare<KeyArgs>('DELETE FROM updates WHERE engine = ? AND doc_id = ?'),
    deleteDoc: db.prepare<KeyArgs>('DELETE FROM snapshots WHERE engine = ? AND doc_id = ?'),
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
      db.exec(SCHEMA)
      db.pragma(`user_version = ${SCHEMA_VERSION}`)
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
    return this.group.exclusive(() => guard('delete', () => this.deleteDoc(key)))
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
        this.sql.insertUpdate.run(key.engine, key.docId, seq, data, crc)
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
      this.sql.putSnapshot.run(key.engine, key.docId, snapshot, upToSeq, upToSeq, Date.now())
      this.sql.deleteRange.run(key.engine, key.docId, 0, upToSeq)
    }).immediate()
  }

  private deleteDoc(key: DocKey): void {
    this.db.transaction(() => {
      this.sql.deleteUpdates.run(key.engine, key.docId)
      this.sql.deleteDoc.run(key.engine, key.docId)
    }).immediate()
  }
}
