/*
 * The versions and change records of PostgresStorage: the tables (added to an existing schema as they
 * are, nothing else changes), the rows a commit adds beside its updates, and the version reads and writes.
 */
import type pg from 'pg'
import type { PoolClient } from 'pg'
import type { LogEntry } from './group-commit.js'
import { asBytes } from './log.js'
import type { VersionKind } from '@murmur/shared'
import { DELETED_VERSION_KIND } from './log-check.js'
import type { ChangeRecord, DocKey, StoredVersion, VersionIdEntry, VersionInfo } from './storage.js'

/** Appended to the schema: IF NOT EXISTS makes it the migration of existing schemas too. */
export function versionsSchemaSql(s: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${s}.versions (
  engine     text COLLATE "C" NOT NULL,
  doc_id     text COLLATE "C" NOT NULL,
  id         text COLLATE "C" NOT NULL,
  name       text,
  kind       text NOT NULL,
  principal  text NOT NULL,
  created_at bigint NOT NULL,
  seq        bigint NOT NULL,
  state      bytea NOT NULL,
  PRIMARY KEY (engine, doc_id, id)
);
CREATE TABLE IF NOT EXISTS ${s}.changes (
  engine    text COLLATE "C" NOT NULL,
  doc_id    text COLLATE "C" NOT NULL,
  seq       bigint NOT NULL,
  principal text,
  at        bigint NOT NULL,
  ids       text,
  PRIMARY KEY (engine, doc_id, seq)
);`
}

/** PostgreSQL allows 65535 bind parameters per statement; change rows take 5 each. */
const ROWS_PER_INSERT = 10_000

/** Inside a commit's transaction: one change record per entry, with the seq it was given. */
export async function insertChanges(client: PoolClient, s: string, batch: readonly LogEntry[], seqs: readonly number[], at: number): Promise<void> {
  const rows = batch.map((e, i) => [e.key.engine, e.key.docId, seqs[i], e.author?.principal ?? null, e.author?.ids ?? null])
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT)
    const values = chunk.map((_, r) => `($${r * 5 + 1}, $${r * 5 + 2}, $${r * 5 + 3}, $${r * 5 + 4}, ${at}, $${r * 5 + 5})`)
    await client.query(`INSERT INTO ${s}.changes (engine, doc_id, seq, principal, at, ids) VALUES ${values.join(', ')}`, chunk.flat())
  }
}

/** Inside a doc's removal: its versions and change records go with it. */
export async function deleteVersionsOf(client: PoolClient, s: string, key: DocKey): Promise<void> {
  await client.query(`DELETE FROM ${s}.versions WHERE engine = $1 AND doc_id = $2`, [key.engine, key.docId])
  await client.query(`DELETE FROM ${s}.changes WHERE engine = $1 AND doc_id = $2`, [key.engine, key.docId])
}

interface VersionRow {
  id: string
  name: string | null
  kind: VersionKind
  principal: string
  created_at: string
  seq: string
  bytes: number
}

const COLUMNS = 'id, name, kind, principal, created_at, seq, octet_length(state) AS bytes'

function info(row: VersionRow): VersionInfo {
  return { id: row.id, name: row.name, kind: row.kind, principal: row.principal, at: Number(row.created_at), seq: Number(row.seq), bytes: row.bytes }
}

/** Version rows of one schema; each call is one statement (autocommit). */
export class PostgresVersions {
  constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
  ) {}

  async put(key: DocKey, v: StoredVersion): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.s}.versions (engine, doc_id, id, name, kind, principal, created_at, seq, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (engine, doc_id, id) DO NOTHING`,
      [key.engine, key.docId, v.id, v.name, v.kind, v.principal, v.at, v.seq, v.state],
    )
  }

  async list(key: DocKey): Promise<VersionInfo[]> {
    const { rows } = await this.pool.query<VersionRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.versions WHERE engine = $1 AND doc_id = $2 AND kind <> '${DELETED_VERSION_KIND}' ORDER BY created_at, id`,
      [key.engine, key.docId],
    )
    return rows.map(info)
  }

  async get(key: DocKey, id: string): Promise<StoredVersion | null> {
    const { rows } = await this.pool.query<VersionRow & { state: Buffer }>(
      `SELECT ${COLUMNS}, state FROM ${this.s}.versions WHERE engine = $1 AND doc_id = $2 AND id = $3 AND kind <> '${DELETED_VERSION_KIND}'`,
      [key.engine, key.docId, id],
    )
    const row = rows[0]
    if (!row) return null
    const { bytes: _bytes, ...version } = info(row)
    return { ...version, state: asBytes(row.state) }
  }

  /** A deleted version leaves a tombstone row (kind 'deleted', no state); one is written if it never arrived. */
  async delete(key: DocKey, id: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ was: string }>(
      `WITH old AS (SELECT kind FROM ${this.s}.versions WHERE engine = $1 AND doc_id = $2 AND id = $3)
       INSERT INTO ${this.s}.versions (engine, doc_id, id, name, kind, principal, created_at, seq, state)
       VALUES ($1, $2, $3, NULL, '${DELETED_VERSION_KIND}', '', $4, 0, $5)
       ON CONFLICT (engine, doc_id, id) DO UPDATE SET kind = EXCLUDED.kind, name = NULL, state = EXCLUDED.state
       RETURNING (SELECT kind FROM old) AS was`,
      [key.engine, key.docId, id, Date.now(), Buffer.alloc(0)],
    )
    const was = rows[0]?.was
    return was !== undefined && was !== null && was !== DELETED_VERSION_KIND
  }

  async ids(): Promise<VersionIdEntry[]> {
    const { rows } = await this.pool.query<{ engine: DocKey['engine']; doc_id: string; id: string; deleted: boolean }>(
      `SELECT engine, doc_id, id, kind = '${DELETED_VERSION_KIND}' AS deleted FROM ${this.s}.versions`,
    )
    return rows.map((r) => ({ key: { engine: r.engine, docId: r.doc_id as DocKey['docId'] }, id: r.id, deleted: r.deleted }))
  }

  async changes(key: DocKey, afterSeq: number, upToSeq: number): Promise<ChangeRecord[]> {
    const { rows } = await this.pool.query<{ seq: string; principal: string | null; at: string; ids: string | null }>(
      `SELECT seq, principal, at, ids FROM ${this.s}.changes WHERE engine = $1 AND doc_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`,
      [key.engine, key.docId, afterSeq, upToSeq],
    )
    return rows.map((r) => ({ seq: Number(r.seq), principal: r.principal, at: Number(r.at), ids: r.ids }))
  }
}
