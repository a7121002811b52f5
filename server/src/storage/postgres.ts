import { userInfo } from 'node:os'
import pg from 'pg'
import type { PoolClient } from 'pg'
import { crc32 } from './crc32.js'
import { GroupCommit, storageError, type LogEntry } from './group-commit.js'
import { asBytes, assertSeq, checkLog, pageLimit, toStoredDoc } from './log.js'
import type { DocKey, ListOptions, Storage, StorageStats, StoredDoc } from './storage.js'

export interface PostgresStorageOptions {
  readonly connectionString: string
  /** How long the first append of a batch waits for company before the commit. Default 2. */
  readonly groupCommitMs?: number
  /** A batch this large commits at once. Default 1024. */
  readonly maxBatch?: number
  /** Schema that holds the tables, created if missing. Default "murmur"; tests use their own. */
  readonly schema?: string
  /** Connections in the pool. Commits use one at a time; loads and lists share the rest. Default 4. */
  readonly poolSize?: number
}

/** Schema names are spliced into SQL, so only plain lower-case identifiers are accepted. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** PostgreSQL allows 65535 bind parameters per statement; updates take 5 each. */
const ROWS_PER_INSERT = 10_000

/*
 * Same layout as SQLite: `snapshots` holds one row per doc with its high-water mark `last_seq`, `updates`
 * is keyed (engine, doc_id, seq) so a load and a compaction are one range of the primary key. Ids use the
 * "C" collation so they order by bytes, as in SQLite, whatever the database's locale.
 */
function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.snapshots (
  engine     text COLLATE "C" NOT NULL,
  doc_id     text COLLATE "C" NOT NULL,
  snapshot   bytea,
  up_to_seq  bigint NOT NULL DEFAULT 0,
  last_seq   bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (engine, doc_id)
);
CREATE TABLE IF NOT EXISTS ${s}.updates (
  engine text COLLATE "C" NOT NULL,
  doc_id text COLLATE "C" NOT NULL,
  seq    bigint NOT NULL,
  data   bytea NOT NULL,
  crc32  integer NOT NULL,
  PRIMARY KEY (engine, doc_id, seq)
);`
}

/** `integer` is signed; the checksum is stored as its two's-complement image and read back unsigned. */
const toInt32 = (crc: number): number => crc | 0

/** bigint columns arrive as strings, since they may exceed 2^53; seqs never do. */
const toSeq = (value: string | number): number => Number(value)

function placeholders(rows: number, cols: number, extra = ''): string {
  const out: string[] = []
  for (let r = 0; r < rows; r++) {
    const cells = Array.from({ length: cols }, (_, c) => `$${r * cols + c + 1}`)
    out.push(`(${cells.join(', ')}${extra})`)
  }
  return out.join(', ')
}

/** The backend for deployments that already run PostgreSQL. Commits keep synchronous_commit on. */
export class PostgresStorage implements Storage {
  readonly description: string
  private readonly pool: pg.Pool
  private readonly s: string
  private readonly group: GroupCommit

  private constructor(pool: pg.Pool, schema: string, options: PostgresStorageOptions) {
    this.description = `${describe(options.connectionString)}#${schema}`
    this.pool = pool
    this.s = `"${schema}"`
    this.group = new GroupCommit({
      groupCommitMs: options.groupCommitMs ?? 2,
      maxBatch: options.maxBatch ?? 1024,
      commit: (batch) => this.commitBatch(batch),
    })
  }

  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    const schema = options.schema ?? 'murmur'
    if (!SCHEMA_NAME.test(schema)) throw new RangeError(`invalid schema name: ${schema}`)
    const pool = new pg.Pool({
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

  append(key: DocKey, update: Uint8Array): Promise<number> {
    return this.group.append({ key, data: update, crc: crc32(update) })
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
            `INSERT INTO ${s}.snapshots AS t (engine, doc_id, snapshot, up_to_seq, last_seq, updated_at)
             VALUES ($1, $2, $3, $4, $4, now())
             ON CONFLICT (engine, doc_id) DO UPDATE SET snapshot = excluded.snapshot, up_to_seq = excluded.up_to_seq,
               last_seq = greatest(t.last_seq, excluded.last_seq), updated_at = excluded.updated_at`,
            [...args, snapshot, upToSeq],
          )
          await client.query(`DELETE FROM ${s}.updates WHERE engine = $1 AND doc_id = $2 AND seq <= $3`, [...args, upToSeq])
        }),
      ),
    )
  }

  async list(options: ListOptions = {}): Promise<DocKey[]> {
    this.assertOpen()
    const { s } = this
    const limit = pageLimit(options)
    const where = [`(t.snapshot IS NOT NULL OR EXISTS (SELECT 1 FROM ${s}.updates u WHERE u.engine = t.engine AND u.doc_id = t.doc_id))`]
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
    const result = await this.guard('list', () =>
      this.pool.query<{ engine: DocKey['engine']; doc_id: string }>(
        `SELECT t.engine, t.doc_id FROM ${s}.snapshots t WHERE ${where.join(' AND ')}
         ORDER BY t.engine, t.doc_id LIMIT ${limitArg}`,
        args,
      ),
    )
    return result.rows.map((r) => ({ engine: r.engine, docId: r.doc_id as DocKey['docId'] }))
  }

  async delete(key: DocKey): Promise<void> {
    const { s } = this
    const args = [key.engine, key.docId]
    return this.group.exclusive(() =>
      this.guard('delete', () =>
        transaction(this.pool, async (client) => {
          await client.query(`DELETE FROM ${s}.updates WHERE engine = $1 AND doc_id = $2`, args)
          await client.query(`DELETE FROM ${s}.snapshots WHERE engine = $1 AND doc_id = $2`, args)
        }),
      ),
    )
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
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + ROWS_PER_INSERT)
        await client.query(
          `INSERT INTO ${s}.updates (engine, doc_id, seq, data, crc32) VALUES ${placeholders(chunk.length, 5)}`,
          chunk.flat(),
        )
      }
      return seqs
    })
  }
}

/**
 * libpq falls back to the OS account when a URL names no user; pg only reads $USER, which services and
 * containers often lack. Do what libpq does so `postgres://host/db` means the same to both.
 */
function withDefaultUser(connectionString: string): string {
  if (process.env.PGUSER) return connectionString
  try {
    const url = new URL(connectionString)
    if (url.username) return connectionString
    url.username = process.env.USER || userInfo().username
    return url.toString()
  } catch {
    return connectionString
  }
}

/** The connection string without credentials, fit for logs. */
function describe(connectionString: string): string {
  try {
    const url = new URL(connectionString)
    url.username = ''
    url.password = ''
    return url.toString()
  } catch {
    return 'postgres'
  }
}

/** Runs `fn` in a transaction on a pooled connection; rolls back and rethrows on any error. */
async function transaction<T>(pool: pg.Pool, fn: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query(begin)
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
      // A connection that cannot even roll back is not given back to the pool.
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr))
    })
    throw err
  } finally {
    client.release(broken)
  }
}
