import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { MurmurError, type VersionKind } from '@murmur/shared'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { crc32 } from './crc32.js'
import { GroupCommit, storageError, type CommitTuning, type LogEntry } from './group-commit.js'
import { asBytes, assertSeq, checkLog, historyLimit, pageLimit, toStoredDoc, traceList, versionUnavailable, type StoredEntry } from './log.js'
import { DELETED_VERSION_KIND } from './log-check.js'
import { PAGE_CACHE_SIZE, prepareLogReads, readDoc, type KeyArgs, type UpdateRow } from './sqlite-schema.js'
import { ownedCopy, pack, unpack, type WriterOp, type WriterRequest, type WriterResult } from './sqlite-writer-protocol.js'
import { WriterThread } from './sqlite-writer-thread.js'
import type {
  AppendOptions,
  ChangeRecord,
  DocHistory,
  DocKey,
  Hint,
  HistoryOptions,
  ListOptions,
  OutboxInput,
  OutboxMessage,
  Storage,
  StorageStats,
  StoredDoc,
  StoredVersion,
  Tombstone,
  TombstonedDoc,
  VersionIdEntry,
  VersionInfo,
} from './storage.js'

export interface SqliteStorageOptions extends CommitTuning {
  /** Database file; its directory is created if missing. */
  readonly path: string
  /**
   * How long a write waits for a lock held by another connection (a backup, the sqlite3 CLI) before it
   * fails. The wait blocks the writer thread, not the event loop, but every write queues behind it.
   * Default 1000.
   */
  readonly busyTimeoutMs?: number
}

interface OutboxRow {
  id: string
  body: string
  due_at: number
  attempts: number
  created_at: number
  last_error: string | null
  trace: string | null
}
interface VersionRow {
  id: string
  name: string | null
  kind: VersionKind
  principal: string
  created_at: number
  seq: number
  bytes: number
}
interface KeyRow {
  engine: DocKey['engine']
  doc_id: string
}

/** The reader's statements, prepared once at open; better-sqlite3 re-prepares them if the schema changes. */
function prepareReads(db: Db) {
  return {
    ...prepareLogReads(db),
    historyHead: db.prepare<KeyArgs, { bytes: number | null; up_to_seq: number; last_seq: number; snapshot_at: number | null }>(
      'SELECT length(snapshot) AS bytes, up_to_seq, last_seq, snapshot_at FROM snapshots WHERE engine = ? AND doc_id = ?',
    ),
    historyEntries: db.prepare<[string, string, number, number], { seq: number; bytes: number; at: number | null }>(
      'SELECT seq, length(data) AS bytes, at FROM updates WHERE engine = ? AND doc_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    updatesUpTo: db.prepare<[string, string, number, number], UpdateRow>(
      'SELECT seq, data, crc32 FROM updates WHERE engine = ? AND doc_id = ? AND seq > ? AND seq <= ? ORDER BY seq',
    ),
    versions: db.prepare<KeyArgs, VersionRow>(
      `SELECT id, name, kind, principal, created_at, seq, length(state) AS bytes FROM versions
       WHERE engine = ? AND doc_id = ? AND kind <> '${DELETED_VERSION_KIND}' ORDER BY created_at, id`,
    ),
    version: db.prepare<[string, string, string], VersionRow & { state: Buffer }>(
      `SELECT id, name, kind, principal, created_at, seq, length(state) AS bytes, state FROM versions WHERE engine = ? AND doc_id = ? AND id = ? AND kind <> '${DELETED_VERSION_KIND}'`,
    ),
    changes: db.prepare<[string, string, number, number], ChangeRecord>(
      'SELECT seq, principal, at, ids FROM changes WHERE engine = ? AND doc_id = ? AND seq > ? AND seq <= ? ORDER BY seq',
    ),
    getTombstone: db.prepare<KeyArgs, { deleted_at: number }>('SELECT deleted_at FROM tombstones WHERE engine = ? AND doc_id = ?'),
    hints: db.prepare<[], { peer: string; engine: DocKey['engine']; doc_id: string }>('SELECT peer, engine, doc_id FROM hints ORDER BY peer, engine, doc_id'),
    outboxDue: db.prepare<[number, number], OutboxRow>('SELECT * FROM outbox WHERE due_at <= ? ORDER BY due_at, id LIMIT ?'),
    outboxCount: db.prepare<[], number>('SELECT count(*) FROM outbox').pluck(),
    versionIds: db.prepare<[], KeyRow & { id: string; deleted: number }>(`SELECT engine, doc_id, id, kind = '${DELETED_VERSION_KIND}' AS deleted FROM versions`),
  }
}

function versionInfo(row: VersionRow): VersionInfo {
  return { id: row.id, name: row.name, kind: row.kind, principal: row.principal, at: row.created_at, seq: row.seq, bytes: row.bytes }
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

/**
 * The embedded default backend: one SQLite file in WAL mode with synchronous=FULL, group-committed.
 *
 * Writes run on a writer thread that owns the write connection (sqlite-writer.ts), so a commit's fsync
 * never stalls the event loop; an append resolves when the writer replied that its batch committed.
 * Reads run here, on a read-only connection: WAL lets it read the last commit while the writer writes,
 * so a load neither waits behind a commit nor copies the doc between threads.
 */
export class SqliteStorage implements Storage {
  readonly description: string
  private readonly reader: Db
  private readonly sql: ReturnType<typeof prepareReads>
  private readonly writer: WriterThread
  private readonly group: GroupCommit

  private constructor(path: string, reader: Db, writer: WriterThread, options: SqliteStorageOptions) {
    this.description = `sqlite:${path}`
    this.reader = reader
    this.sql = prepareReads(reader)
    this.writer = writer
    this.group = new GroupCommit({
      groupCommitMs: options.groupCommitMs ?? 2,
      backgroundCommitMs: options.backgroundCommitMs,
      maxBatch: options.maxBatch ?? 1024,
      commit: (batch) => this.commitBatch(batch),
    })
  }

  static async open(options: SqliteStorageOptions): Promise<SqliteStorage> {
    const path = resolve(options.path)
    mkdirSync(dirname(path), { recursive: true })
    const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 1000))
    const writer = new WriterThread()
    let reader: Db | null = null
    try {
      // The writer opens first: it creates the file, switches it to WAL and brings the schema up to date.
      await writer.call({ op: 'open', path, busyTimeoutMs })
      reader = new Database(path, { readonly: true, fileMustExist: true })
      // A reader waits only in rare cases (a WAL being recovered); the wait is synchronous, keep it short.
      reader.pragma(`busy_timeout = ${busyTimeoutMs}`)
      reader.pragma(`cache_size = ${PAGE_CACHE_SIZE}`)
      return new SqliteStorage(path, reader, writer, options)
    } catch (err) {
      reader?.close()
      await writer.stop().catch(() => writer.kill())
      throw storageError(`sqlite: cannot open ${path}`, err)
    }
  }

  stats(): StorageStats {
    return this.group.stats()
  }

  async load(key: DocKey): Promise<StoredDoc | null> {
    this.assertOpen()
    const doc = guard('load', () => this.reader.transaction(() => readDoc(this.sql, key))())
    if (!doc) return null
    if (doc.log.firstCorruptSeq === null) return toStoredDoc(doc.snapshot, doc.upToSeq, doc.log)
    // A torn tail must go, so that the next appends continue a clean log. The writer reads the doc again
    // and deletes the tail in one transaction; its reading is the answer.
    const repaired = await this.write('load', { op: 'repairLoad', key })
    return repaired && { ...repaired, updates: unpack(repaired.updates) }
  }

  append(key: DocKey, update: Uint8Array, options?: AppendOptions): Promise<number> {
    return this.group.append({ key, data: update, crc: crc32(update), author: options?.author }, options)
  }

  flush(): Promise<void> {
    return this.group.flush()
  }

  async compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void> {
    assertSeq(upToSeq)
    const copy = ownedCopy(snapshot)
    await this.group.exclusive(() => this.write('compact', { op: 'compact', key, snapshot: copy, upToSeq }, [copy.buffer]))
  }

  async list(options: ListOptions = {}): Promise<DocKey[]> {
    const base = '(s.snapshot IS NOT NULL OR EXISTS (SELECT 1 FROM updates u WHERE u.engine = s.engine AND u.doc_id = s.doc_id))'
    const rows = this.page<KeyRow>('list', 'SELECT s.engine, s.doc_id FROM snapshots s', base, options)
    return rows.map((r) => ({ engine: r.engine, docId: r.doc_id as DocKey['docId'] }))
  }

  async listTombstones(options: ListOptions = {}): Promise<TombstonedDoc[]> {
    const rows = this.page<KeyRow & { deleted_at: number }>('tombstone list', 'SELECT s.engine, s.doc_id, s.deleted_at FROM tombstones s', '1', options)
    return rows.map((r) => ({ engine: r.engine, docId: r.doc_id as DocKey['docId'], deletedAt: r.deleted_at }))
  }

  /** One page of `select` (its table aliased `s`, keyed by engine and doc_id) as `ListOptions` ask. */
  private page<Row>(what: string, select: string, base: string, options: ListOptions): Row[] {
    this.assertOpen()
    const limit = pageLimit(options)
    const where = [base]
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
    const sql = `${select} WHERE ${where.join(' AND ')} ORDER BY s.engine, s.doc_id LIMIT ?`
    return guard(what, () => this.reader.prepare<(string | number)[], Row>(sql).all(...args))
  }

  async history(key: DocKey, options: HistoryOptions = {}): Promise<DocHistory | null> {
    this.assertOpen()
    const limit = historyLimit(options.limit)
    return guard('history', () =>
      this.reader.transaction((): DocHistory | null => {
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
      this.reader.transaction(() => {
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

  async putVersion(key: DocKey, version: StoredVersion): Promise<void> {
    this.assertOpen()
    await this.write('version put', { op: 'putVersion', key, version: { ...version, state: ownedCopy(version.state) } })
  }

  async versions(key: DocKey): Promise<VersionInfo[]> {
    this.assertOpen()
    return guard('versions', () => this.sql.versions.all(key.engine, key.docId)).map(versionInfo)
  }

  async version(key: DocKey, id: string): Promise<StoredVersion | null> {
    this.assertOpen()
    const row = guard('version', () => this.sql.version.get(key.engine, key.docId, id))
    if (!row) return null
    const { bytes: _bytes, ...version } = versionInfo(row)
    return { ...version, state: asBytes(row.state) }
  }

  async deleteVersion(key: DocKey, id: string): Promise<boolean> {
    this.assertOpen()
    return this.write('version delete', { op: 'deleteVersion', key, versionId: id })
  }

  async versionIds(): Promise<VersionIdEntry[]> {
    this.assertOpen()
    return guard('versionIds', () => this.sql.versionIds.all()).map((r) => ({ key: { engine: r.engine, docId: r.doc_id as DocKey['docId'] }, id: r.id, deleted: r.deleted === 1 }))
  }

  async changes(key: DocKey, afterSeq: number, upToSeq: number): Promise<ChangeRecord[]> {
    this.assertOpen()
    return guard('changes', () => this.sql.changes.all(key.engine, key.docId, afterSeq, upToSeq))
  }

  async tombstone(key: DocKey, deletedAt: number): Promise<void> {
    await this.group.exclusive(() => this.write('tombstone', { op: 'remove', key, deletedAt }))
  }

  async tombstoneOf(key: DocKey): Promise<Tombstone | null> {
    this.assertOpen()
    const row = guard('tombstoneOf', () => this.sql.getTombstone.get(key.engine, key.docId))
    return row ? { deletedAt: row.deleted_at } : null
  }

  async putHints(hints: readonly Hint[]): Promise<void> {
    this.assertOpen()
    if (hints.length > 0) await this.write('hints put', { op: 'putHints', hints })
  }

  async hints(): Promise<Hint[]> {
    this.assertOpen()
    const rows = guard('hints', () => this.sql.hints.all())
    return rows.map((r) => ({ peer: r.peer, doc: { engine: r.engine, docId: r.doc_id as DocKey['docId'] } }))
  }

  async deleteHints(peer: string): Promise<void> {
    this.assertOpen()
    await this.write('hints delete', { op: 'deleteHints', peer })
  }

  onCommit(listener: (seconds: number, appends: number) => void): void {
    this.group.onCommit(listener)
  }

  onFatal(listener: (error: Error) => void): void {
    this.writer.onUnexpectedExit = listener
  }

  async outboxPut(messages: readonly OutboxInput[]): Promise<void> {
    this.assertOpen()
    await this.write('outbox put', { op: 'outboxPut', messages })
  }

  async outboxDue(now: number, limit: number): Promise<OutboxMessage[]> {
    this.assertOpen()
    const rows = guard('outbox read', () => this.sql.outboxDue.all(now, limit))
    return rows.map((r) => ({ id: r.id, body: r.body, dueAt: r.due_at, attempts: r.attempts, createdAt: r.created_at, lastError: r.last_error, trace: traceList(r.trace) }))
  }

  async outboxRetry(id: string, dueAt: number, error: string): Promise<void> {
    this.assertOpen()
    await this.write('outbox retry', { op: 'outboxRetry', messageId: id, dueAt, error })
  }

  async outboxDone(id: string): Promise<void> {
    this.assertOpen()
    await this.write('outbox done', { op: 'outboxDone', messageId: id })
  }

  async outboxCount(): Promise<number> {
    this.assertOpen()
    return guard('outbox count', () => this.sql.outboxCount.get() ?? 0)
  }

  /** Commits what is pending, then closes the reader and the write connection and ends the writer thread. */
  close(): Promise<void> {
    return this.group.close(async () => {
      if (this.reader.open) this.reader.close()
      await this.writer.stop()
    })
  }

  /**
   * Ends the writer thread at once, as a crash would: every write waiting on it and every later one
   * fails with MUR_ERR_STORAGE_FAILED. For tests of that path; a server never calls it.
   * @internal
   */
  killWriter(): Promise<void> {
    return this.writer.kill()
  }

  private assertOpen(): void {
    if (this.group.closed) throw storageError('storage is closed')
  }

  /** Runs a request on the writer thread; a failure becomes a storage error naming what failed. */
  private async write<K extends WriterOp>(what: string, request: WriterRequest<K>, transfer?: readonly ArrayBuffer[]): Promise<WriterResult<K>> {
    try {
      return await this.writer.call(request, transfer)
    } catch (err) {
      if (err instanceof MurmurError) throw err
      throw storageError(`sqlite: ${what} failed`, err)
    }
  }

  /** One transaction, one fsync, for the whole batch, on the writer thread; seqs in batch order. */
  private commitBatch(batch: readonly LogEntry[]): Promise<number[]> {
    // One buffer for the batch, moved to the writer: the entries' own buffers stay with their callers.
    const data = pack(batch.map((e) => e.data))
    return this.writer.call(
      { op: 'commit', keys: batch.map((e) => e.key), crcs: batch.map((e) => e.crc), authors: batch.map((e) => e.author ?? null), data },
      [data.buffer],
    )
  }
}
