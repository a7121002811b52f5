import { Readable } from 'node:stream'
import { createInterface } from 'node:readline'
import type pg from 'pg'
import { PostgresStorage, SCHEMA_NAME } from '../storage/postgres.js'
import { withDefaultUser } from '../storage/postgres-connection.js'
import { ArchiveStore, BackupError, readArchive, writeArchive, type ArchiveHeader } from './archive.js'
import type { StagedArchive } from './sqlite-backup.js'

/** The schema version the PostgreSQL layout matches (the SQLite one's numbering). */
const PG_SCHEMA_VERSION = 2

/** Murmur's tables, their columns in export order, and which of them are bytea (base64 in the archive). */
const TABLES = {
  snapshots: { columns: ['engine', 'doc_id', 'snapshot', 'up_to_seq', 'last_seq', 'updated_at', 'snapshot_at'], bytea: ['snapshot'] },
  updates: { columns: ['engine', 'doc_id', 'seq', 'data', 'crc32', 'at'], bytea: ['data'] },
  tombstones: { columns: ['engine', 'doc_id', 'deleted_at'], bytea: [] },
  outbox: { columns: ['id', 'body', 'due_at', 'attempts', 'created_at', 'last_error'], bytea: [] },
} as const
type Table = keyof typeof TABLES
const TABLE_NAMES = Object.keys(TABLES) as Table[]
const isTable = (name: unknown): name is Table => typeof name === 'string' && name in TABLES

/** Rows fetched (and inserted) at a time. */
const BATCH = 500

type Cell = string | number | null
/** One line of the payload: a row of a table, or the end with the row count of each table. */
type Line = [Table, Cell[]] | ['end', Record<Table, number>]

export interface PostgresTarget {
  readonly connectionString: string
  readonly schema: string
}

async function connect(target: PostgresTarget): Promise<pg.Client> {
  if (!SCHEMA_NAME.test(target.schema)) throw new BackupError(`invalid schema name: ${target.schema}`)
  const { Client } = (await import('pg')).default
  const client = new Client({ connectionString: withDefaultUser(target.connectionString), connectionTimeoutMillis: 10_000 })
  client.on('error', () => {})
  await client.connect()
  return client
}

function encodeCell(value: unknown, bytea: boolean): Cell {
  if (value === null || value === undefined) return null
  if (bytea) return Buffer.from(value as Uint8Array).toString('base64')
  if (value instanceof Date) return value.toISOString()
  return value as string | number
}

/**
 * Exports Murmur's tables in one REPEATABLE READ, READ ONLY transaction: every row the archive holds
 * comes from one snapshot of the database, taken when the export starts, while the node goes on writing.
 * Rows stream through a cursor, a batch at a time.
 */
async function* exportLines(client: pg.Client, schema: string): AsyncGenerator<string> {
  const s = `"${schema}"`
  const counts = { snapshots: 0, updates: 0, tombstones: 0, outbox: 0 }
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
  try {
    for (const table of TABLE_NAMES) {
      const { columns, bytea } = TABLES[table]
      const select = columns.map((c) => `"${c}"`).join(', ')
      await client.query(`DECLARE murmur_export NO SCROLL CURSOR FOR SELECT ${select} FROM ${s}.${table} ORDER BY 1, 2, 3`)
      for (;;) {
        const { rows } = await client.query<Record<string, unknown>>(`FETCH ${BATCH} FROM murmur_export`)
        if (rows.length === 0) break
        counts[table] += rows.length
        yield rows.map((r) => JSON.stringify([table, columns.map((c) => encodeCell(r[c], (bytea as readonly string[]).includes(c)))]) + '\n').join('')
      }
      await client.query('CLOSE murmur_export')
    }
    yield JSON.stringify(['end', counts]) + '\n'
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

/** A logical export of a PostgreSQL store's tables, as an archive. */
export async function backupPostgres(target: PostgresTarget): Promise<StagedArchive> {
  const client = await connect(target)
  const done = async (): Promise<void> => {
    await client.end().catch(() => {})
  }
  try {
    const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${target.schema}".snapshots`])
    if (rows[0]?.t == null) throw new BackupError(`no Murmur store in schema "${target.schema}"`)
    const createdAt = new Date().toISOString()
    const header: ArchiveHeader = { format: 'murmur-backup', version: 1, store: ArchiveStore.postgres, schemaVersion: PG_SCHEMA_VERSION, createdAt }
    return { archive: writeArchive(header, Readable.from(exportLines(client, target.schema))), header, done }
  } catch (err) {
    await done()
    throw err
  }
}

function parseLine(text: string): Line {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new BackupError('the backup is corrupt (a row is not readable)')
  }
  if (!Array.isArray(value) || value.length !== 2) throw new BackupError('the backup is corrupt (a row has the wrong shape)')
  const [name, body] = value as [unknown, unknown]
  if (name === 'end' && typeof body === 'object' && body !== null) return ['end', body as Record<Table, number>]
  if (!isTable(name) || !Array.isArray(body) || body.length !== TABLES[name].columns.length) {
    throw new BackupError('the backup is corrupt (a row of an unknown table or with the wrong columns)')
  }
  return [name, body as Cell[]]
}

async function insertRows(client: pg.Client, schema: string, table: Table, rows: Cell[][]): Promise<void> {
  if (rows.length === 0) return
  const { columns, bytea } = TABLES[table]
  const args: unknown[] = []
  const values = rows.map((row) => {
    const cells = row.map((cell, i) => {
      const isBytes = (bytea as readonly string[]).includes(columns[i]) && cell !== null
      args.push(isBytes ? Buffer.from(String(cell), 'base64') : cell)
      return `$${args.length}`
    })
    return `(${cells.join(', ')})`
  })
  await client.query(`INSERT INTO "${schema}".${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${values.join(', ')}`, args)
}

/** Reads the payload's lines into the tables, checking the end record's counts against the rows read. */
async function importLines(client: pg.Client, schema: string, payload: Readable): Promise<void> {
  const counts = { snapshots: 0, updates: 0, tombstones: 0, outbox: 0 }
  const pending = new Map<Table, Cell[][]>()
  let ended: Record<Table, number> | null = null
  for await (const text of createInterface({ input: payload, crlfDelay: Infinity })) {
    if (text === '') continue
    if (ended) throw new BackupError('the backup is corrupt (rows after its end)')
    const line = parseLine(text)
    if (line[0] === 'end') {
      ended = line[1]
      continue
    }
    const [table, row] = line
    counts[table]++
    const batch = pending.get(table) ?? []
    batch.push(row)
    pending.set(table, batch)
    if (batch.length >= BATCH) {
      await insertRows(client, schema, table, batch)
      pending.set(table, [])
    }
  }
  // Snapshots before updates is the export's order too; tables have no foreign keys, so order is free.
  for (const [table, batch] of pending) await insertRows(client, schema, table, batch)
  if (!ended) throw new BackupError('the backup is truncated (it has no end record)')
  for (const t of TABLE_NAMES) {
    if (ended[t] !== counts[t]) throw new BackupError(`the backup is corrupt (${counts[t]} rows of ${t}, its end record says ${String(ended[t])})`)
  }
}

/**
 * Restores an archive into the PostgreSQL store `target`, which must be empty. One transaction: the
 * tables are locked and checked empty, the rows inserted, and the commit comes only after the whole
 * archive was read and checked; a failed restore leaves nothing behind.
 */
export async function restorePostgres(source: Readable, target: PostgresTarget): Promise<ArchiveHeader> {
  // Opening the store creates the schema and its tables as a node would.
  await (await PostgresStorage.open({ connectionString: target.connectionString, schema: target.schema })).close()
  const client = await connect(target)
  const s = `"${target.schema}"`
  try {
    await client.query('BEGIN')
    await client.query(`LOCK TABLE ${TABLE_NAMES.map((t) => `${s}.${t}`).join(', ')} IN EXCLUSIVE MODE`)
    const { rows } = await client.query<{ n: string }>(
      `SELECT (${TABLE_NAMES.map((t) => `(SELECT count(*) FROM ${s}.${t})`).join(' + ')}) AS n`,
    )
    const existing = Number(rows[0]?.n ?? 0)
    if (existing > 0) throw new BackupError(`refusing to restore into schema "${target.schema}": its store is not empty (${existing} rows); restore into an empty schema`)
    const header = await readArchive(source, async (h, payload) => {
      if (h.store !== ArchiveStore.postgres) throw new BackupError(`this is a backup of a ${h.store} store: restore it into one (--storage ${h.store})`)
      await importLines(client, target.schema, payload)
    })
    await client.query('COMMIT')
    return header
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    await client.end().catch(() => {})
  }
}
