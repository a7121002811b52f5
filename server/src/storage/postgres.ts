import type pg from 'pg'
import { crc32 } from './crc32.js'
import { describeConnection, placeholders, transaction, withDefaultUser } from './postgres-connection.js'
import { PostgresOutbox } from './postgres-outbox.js'
import { schemaSql } from './postgres-schema.js'
import { GroupCommit, storageError, type CommitTuning, type LogEntry } from './group-commit.js'
import { PostgresHints } from './postgres-hints.js'
import { PostgresVersions, deleteVersionsOf, insertChanges } from './postgres-versions.js'
import { asBytes, assertSeq, checkLog, historyLimit, pageLimit, toStoredDoc, versionUnavailable } from './log.js'
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

export interface PostgresStorageOptions extends CommitTuning {
  readonly connectionString: string
  /** Schema that holds the tables, created if missing. Default "murmur"; tests use their own. */
  readonly schema?: string
  /** Connections in the pool. Commits use one at a time; loads and lists share the rest. Default 4. */
  readonly poolSize?: number
}

/** Schema names are spliced into SQL, so only plain lower-case identifiers are accepted. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** PostgreSQL allows 65535 bind parameters per statement; updates take 5 each. */
const ROWS_PER_INSERT = 10_000

/** `integer` is signed; the checksum is stored as its two's-complement image and read back unsigned. */
const toInt32 = (crc: number): number => crc | 0

/** bigint columns arrive as strings, since they may exceed 2^53; seqs never do. */
const toSeq = (value: string | number): number => Number(value)

/** The backend for deployments that already run PostgreSQL. Commits keep synchronous_commit on. */
export class PostgresStorage implements Storage {
  readonly description: string
  private readonly pool: pg.Pool
  private readonly s: string
  private readonly group: GroupCommit
  private readonly versionRows: PostgresVersions
  private readonly hintRows: PostgresHints
  private readonly outboxRows: PostgresOutbox

  private constructor(pool: pg.Pool, schema: string, options: PostgresStorageOptions) {
    this.description = `${describeConnection(options.connectionString)}#${schema}`
    this.pool = pool
    this.s = `"${schema}"`
    this.versionRows = new PostgresVersions(pool, this.s)
    this.hintRows = new PostgresHints(pool, this.s)
    this.outboxRows = new PostgresOutbox(pool, this.s)
    this.group = new GroupCommit({
      groupCommitMs: options.groupCommitMs ?? 2,
      backgroundCommitMs: options.backgroundCommitMs,
      maxBatch: options.maxBatch ?? 1024,
      commit: (batch) => this.commitBatch(batch),
    })
  }

  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    const schema = options.schema ?? 'murmur'
    if (!SCHEMA_NAME.test(schema)) throw new RangeError(`invalid schema name: ${schema}`)
    // Loaded here, not with the module: a node on SQLite starts without the PostgreSQL driver.
    const { Pool } = (await import('pg')).default
    const pool = new Pool({
      connectionString: withDefaultUser(options.connectionString),
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: 10_000,
      // An operator may have turned it off server-wide; acknowledged appends must survive a crash.
      options: '-c synchronous_commit=on',
    })
    // An idle connection that dies (server restart) is reported here; without a listener it would crash
    // the process. The next query simply gets a fresh connection.
    pool.on('error', () => {})
    try {
      await transaction(pool, async (client) => {
        // Two servers starting at once would race on CREATE ... IF NOT EXISTS; the lock orders them.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`murmur-schema:${schema}`])
        await client.query(schemaSql(`"${schema}"`))
      })
    } catch (err) {
      await pool.end().catch(() => {})
      throw storageError('postgres: cannot open storage', err)
    }
    return new PostgresStorage(pool, schema, options)
  }

  stats(): StorageStats {
    return this.group.stats()
  }

  async load(key: DocKey): Promise<StoredDoc | null> {
    this.assertOpen()
    const { s } = this
    const args = [key.engine, key.docId]
    const found = await this.guard('load', () =>
      // REPEATABLE READ: the snapshot and the log come from one moment, never straddling a compaction.
      transaction(this.pool, async (client) => {
        const snap = await client.query<{ snapshot: Buffer | null; up_to_seq: string }>(
          `SELECT snapshot, up_to_seq FROM ${s}.snapshots WHERE engine = $1 AND doc_id = $2`,
          args,
        )
        const row = snap.rows[0]
        if (!row) return null
        const upToSeq = toSeq(row.up_to_seq)
        const log = await client.query<{ seq: string; data: Buffer; crc32: number }>(
          `SELECT seq, data, crc32 FROM ${s}.updates WHERE engine = $1 AND doc_id = $2 AND seq > $3 ORDER BY seq`,
          [...args, upToSeq],
        )
        const entries = log.rows.map((r) => ({ seq: toSeq(r.seq), data: asBytes(r.data), crc: r.crc32 >>> 0 }))
        return { snapshot: row.snapshot && asBytes(row.snapshot), upToSeq, log: checkLog(entries) }
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ'),
    )
    if (!found) return null
    const { log } = found
    if (log.firstCorruptSeq !== null) {
      // Only the rows this load saw: an append committed meanwhile follows the recovery and is kept.
      await this.guard('torn-tail recovery', () =>
        this.pool.query(`DELETE FROM ${s}.updates WHERE engine = $1 AND doc_id = $2 AND seq BETWEEN $3 AND $4`, [
          ...args,
          log.firstCorruptSeq,
          log.lastReadSeq,
        ]),
      )
    }
    return toStoredDoc(found.snapshot, found.upToSeq, log)
  }

  append(key: DocKey, update: Uint8Array, options?: AppendOptions): Promise<number> {
    return this.group.append({ key, data: update, crc: crc32(update), author: options?.author }, options)
  }

  flush(): Promise<void> {
    return this.group.flush()
  }

  async compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void> {
    assertSeq(upToSeq)
    const { s } = this
    const args = [key.engine, key.docId]
    return this.group.exclusive(() =>
      this.guard('compact', () =>
        transaction(this.pool, async (client) => {
          const current = await client.query<{ up_to_seq: string }>(
            `SELECT up_to_seq FROM ${s}.snapshots WHERE engine = $1 AND doc_id = $2 FOR UPDATE`,
            args,
          )
          const row = current.rows[0]
          if (row && upToSeq < toSeq(row.up_to_seq)) return
          await client.query(
            `INSERT INTO ${s}.snapshots AS t (engine, doc_id, snapshot, up_to_seq, last_seq, updated_at, snapshot_at)
             VALUES ($1, $2, $3, $4, $4, now(), $5)
             ON CONFLICT (engine, doc_id) DO UPDATE SET snapshot = excluded.snapshot, up_to_seq = excluded.up_to_seq,
               last_seq = greatest(t.last_seq, excluded.last_seq), updated_at = excluded.updated_at, snapshot_at = excluded.snapshot_at`,
            [...args, snapshot, upToSeq, Date.now()],
          )
          await client.query(`DELETE FROM ${s}.updates WHERE engine = $1 AND doc_id = $2 AND seq <= $3`, [...args, upToSeq])
        }),
      ),
    )
  }

  async list(options: ListOptions = {}): Promise<DocKey[]> {
    const base = `(t.snapshot IS NOT NULL OR EXISTS (SELECT 1 FROM ${this.s}.updates u WHERE u.engine = t.engine AND u.doc_id = t.doc_id))`
    const rows = await this.page<{ engine: DocKey['engine']; doc_id: string }>('list', `SELECT t.engine, t.doc_id FROM ${this.s}.snapshots t`, base, options)
    return rows.map((r) => ({ engine: r.engine, docId: r.doc_id as DocKey['docId'] }))
  }

  async listTombstones(options: ListOptions = {}): Promise<TombstonedDoc[]> {
    const select = `SELECT t.engine, t.doc_id, t.deleted_at FROM ${this.s}.tombstones t`
    const rows = await this.page<{ engine: DocKey['engine']; doc_id: string; deleted_at: string }>('tombstone list', select, 'true', options)
    return rows.map((r) => ({ engine: r.engine, docId: r.doc_id as DocKey['docId'], deletedAt: Number(r.deleted_at) }))
  }

  /** One page of `select` (its table aliased `t`, keyed by engine and doc_id) as `ListOptions` ask. */
  private async page<Row extends pg.QueryResultRow>(what: string, select: string, base: string, options: ListOptions): Promise<Row[]> {
    this.assertOpen()
    const limit = pageLimit(options)
    const where = [base]
    const args: (string | number | null)[] = []
    const arg = (value: string | number | null): string => `$${args.push(value)}`
    if (options.engine !== undefined) where.push(`t.engine = ${arg(options.engine)}`)
    if (options.after !== undefined) {
      if (options.afterEngine !== undefined && options.engine === undefined) {
        where.push(`(t.engine, t.doc_id) > (${arg(options.afterEngine)}, ${arg(options.after)})`)
      } else {
        where.push(`t.doc_id > ${arg(options.after)}`)
      }
    }
    // LIMIT NULL is PostgreSQL's "no limit".
    const limitArg = arg(limit === Number.MAX_SAFE_INTEGER ? null : limit)
    const result = await this.guard(what, () =>
      this.pool.query<Row>(`${select} WHERE ${where.join(' AND ')} ORDER BY t.engine, t.doc_id LIMIT ${limitArg}`, args),
    )
    return result.rows
  }

  async putHints(hints: readonly Hint[]): Promise<void> {
    this.assertOpen()
    await this.guard('hints put', () => this.hintRows.put(hints))
  }

  async hints(): Promise<Hint[]> {
    this.assertOpen()
    return this.guard('hints', () => this.hintRows.all())
  }

  async deleteHints(peer: string): Promise<void> {
    this.assertOpen()
    await this.guard('hints delete', () => this.hintRows.deletePeer(peer))
  }

  /** Removes the doc's data and records its tombstone, in one transaction. */
  async tombstone(key: DocKey, deletedAt: number): Promise<void> {
    const { s } = this
    const args = [key.engine, key.docId]
    return this.group.exclusive(() =>
      this.guard('tombstone', () =>
        transaction(this.pool, async (client) => {
          await client.query(`DELETE FROM ${s}.updates WHERE engine = $1 AND doc_id = $2`, args)
          await client.query(`DELETE FROM ${s}.snapshots WHERE engine = $1 AND doc_id = $2`, args)
          await deleteVersionsOf(client, s, key)
          await client.query(
            `INSERT INTO ${s}.tombstones (engine, doc_id, deleted_at) VALUES ($1, $2, $3)
             ON CONFLICT (engine, doc_id) DO UPDATE SET deleted_at = excluded.deleted_at`,
            [...args, deletedAt],
          )
        }),
      ),
    )
  }

  async putVersion(key: DocKey, version: StoredVersion): Promise<void> {
    this.assertOpen()
    await this.guard('version put', () => this.versionRows.put(key, version))
  }

  async versions(key: DocKey): Promise<VersionInfo[]> {
    this.assertOpen()
    return this.guard('versions', () => this.versionRows.list(key))
  }

  async version(key: DocKey, id: string): Promise<StoredVersion | null> {
    this.assertOpen()
    return this.guard('version', () => this.versionRows.get(key, id))
  }

  async deleteVersion(key: DocKey, id: string): Promise<boolean> {
    this.assertOpen()
    return this.guard('version delete', () => this.versionRows.delete(key, id))
  }

  async versionIds(): Promise<VersionIdEntry[]> {
    this.assertOpen()
    return this.guard('versionIds', () => this.versionRows.ids())
  }

  async changes(key: DocKey, afterSeq: number, upToSeq: number): Promise<ChangeRecord[]> {
    this.assertOpen()
    return this.guard('changes', () => this.versionRows.changes(key, afterSeq, upToSeq))
  }

  async tombstoneOf(key: DocKey): Promise<Tombstone | null> {
    this.assertOpen()
    const { rows } = await this.guard('tombstoneOf', () =>
      this.pool.query<{ deleted_at: string }>(`SELECT deleted_at FROM ${this.s}.tombstones WHERE engine = $1 AND doc_id = $2`, [
        key.engine,
        key.docId,
      ]),
    )
    return rows[0] ? { deletedAt: Number(rows[0].deleted_at) } : null
  }

  async history(key: DocKey, options: HistoryOptions = {}): Promise<DocHistory | null> {
    this.assertOpen()
    const limit = historyLimit(options.limit)
    const { s } = this
    const args = [key.engine, key.docId]
    return this.guard('history', () =>
      transaction(this.pool, async (client): Promise<DocHistory | null> => {
        const head = await client.query<{ bytes: number | null; up_to_seq: string; last_seq: string; snapshot_at: string | null }>(
          `SELECT octet_length(snapshot) AS bytes, up_to_seq, last_seq, snapshot_at FROM ${s}.snapshots WHERE engine = $1 AND doc_id = $2`,
          args,
        )
        const row = head.rows[0]
        if (!row) return null
        const after = Math.max(options.afterSeq ?? 0, toSeq(row.up_to_seq))
        const entries = await client.query<{ seq: string; bytes: number; at: string | null }>(
          `SELECT seq, octet_length(data) AS bytes, at FROM ${s}.updates WHERE engine = $1 AND doc_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
          [...args, after, limit],
        )
        if (row.bytes === null && entries.rows.length === 0 && (options.afterSeq ?? 0) === 0) return null
        return {
          snapshot: row.bytes === null ? null : { upToSeq: toSeq(row.up_to_seq), bytes: row.bytes, at: row.snapshot_at === null ? null : Number(row.snapshot_at) },
          entries: entries.rows.map((e) => ({ seq: toSeq(e.seq), bytes: e.bytes, at: e.at === null ? null : Number(e.at) })),
          lastSeq: toSeq(row.last_seq),
        }
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ'),
    )
  }

  async loadAt(key: DocKey, seq: number): Promise<StoredDoc | null> {
    this.assertOpen()
    assertSeq(seq)
    const { s } = this
    const args = [key.engine, key.docId]
    const found = await this.guard('loadAt', () =>
      transaction(this.pool, async (client) => {
        const snap = await client.query<{ snapshot: Buffer | null; up_to_seq: string }>(
          `SELECT snapshot, up_to_seq FROM ${s}.snapshots WHERE engine = $1 AND doc_id = $2`,
          args,
        )
        const row = snap.rows[0]
        if (!row) return null
        const upToSeq = toSeq(row.up_to_seq)
        if (row.snapshot !== null && seq < upToSeq) return { compacted: true as const, upToSeq }
        const log = await client.query<{ seq: string; data: Buffer; crc32: number }>(
          `SELECT seq, data, crc32 FROM ${s}.updates WHERE engine = $1 AND doc_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`,
          [...args, upToSeq, seq],
        )
        const entries = log.rows.map((r) => ({ seq: toSeq(r.seq), data: asBytes(r.data), crc: r.crc32 >>> 0 }))
        return { compacted: false as const, doc: toStoredDoc(row.snapshot && asBytes(row.snapshot), upToSeq, checkLog(entries)) }
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ'),
    )
    if (found === null) return null
    if (found.compacted) throw versionUnavailable(seq, found.upToSeq)
    return found.doc
  }

  onCommit(listener: (seconds: number, appends: number) => void): void {
    this.group.onCommit(listener)
  }

  outboxPut(messages: readonly OutboxInput[]): Promise<void> {
    this.assertOpen()
    return this.guard('outbox put', () => this.outboxRows.put(messages))
  }

  outboxDue(now: number, limit: number): Promise<OutboxMessage[]> {
    this.assertOpen()
    return this.guard('outbox read', () => this.outboxRows.due(now, limit))
  }

  outboxRetry(id: string, dueAt: number, error: string): Promise<void> {
    this.assertOpen()
    return this.guard('outbox retry', () => this.outboxRows.retry(id, dueAt, error))
  }

  outboxDone(id: string): Promise<void> {
    this.assertOpen()
    return this.guard('outbox done', () => this.outboxRows.done(id))
  }

  outboxCount(): Promise<number> {
    this.assertOpen()
    return this.guard('outbox count', () => this.outboxRows.count())
  }

  close(): Promise<void> {
    return this.group.close(() => this.pool.end())
  }

  private assertOpen(): void {
    if (this.group.closed) throw storageError('storage is closed')
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw storageError(`postgres: ${what} failed`, err)
    }
  }

  /**
   * One transaction for the batch: first each doc's high-water mark moves up by its number of entries
   * (the row lock orders concurrent writers), then one multi-row insert writes the entries.
   */
  private commitBatch(batch: readonly LogEntry[]): Promise<number[]> {
    const { s } = this
    const counts = new Map<string, { key: DocKey; count: number; next: number }>()
    for (const { key } of batch) {
      const k = `${key.engine}\u0000${key.docId}`
      const doc = counts.get(k) ?? { key, count: 0, next: 0 }
      doc.count++
      counts.set(k, doc)
    }
    // A fixed order of row locks, so two servers sharing the database cannot deadlock.
    const docs = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return transaction(this.pool, async (client) => {
      const marks = await client.query<{ engine: string; doc_id: string; last_seq: string }>(
        `INSERT INTO ${s}.snapshots AS t (engine, doc_id, last_seq, updated_at)
         VALUES ${placeholders(docs.length, 3, ', now()')}
         ON CONFLICT (engine, doc_id) DO UPDATE SET last_seq = t.last_seq + excluded.last_seq, updated_at = now()
         RETURNING engine, doc_id, last_seq`,
        docs.flatMap(([, d]) => [d.key.engine, d.key.docId, d.count]),
      )
      for (const m of marks.rows) {
        const doc = counts.get(`${m.engine}\u0000${m.doc_id}`)
        if (doc) doc.next = toSeq(m.last_seq) - doc.count + 1
      }
      const seqs: number[] = []
      const rows = batch.map(({ key, data, crc }) => {
        const doc = counts.get(`${key.engine}\u0000${key.docId}`)
        if (!doc || doc.next === 0) throw new Error('high-water mark missing for a doc in the batch')
        const seq = doc.next++
        seqs.push(seq)
        return [key.engine, key.docId, seq, data, toInt32(crc)]
      })
      // The commit time is one integer for the whole batch, written as a literal.
      const now = Math.floor(Date.now())
      const at = `, ${now}`
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + ROWS_PER_INSERT)
        await client.query(
          `INSERT INTO ${s}.updates (engine, doc_id, seq, data, crc32, at) VALUES ${placeholders(chunk.length, 5, at)}`,
          chunk.flat(),
        )
      }
      await insertChanges(client, s, batch, seqs, now)
      return seqs
    })
  }
}
