/*
 * The hints of PostgresStorage (hinted handoff, kept across restarts): the table, added to an existing
 * schema as it is, and its reads and writes.
 */
import type pg from 'pg'
import type { DocKey, Hint } from './storage.js'

/** Appended to the schema: IF NOT EXISTS makes it the migration of existing schemas too. */
export function hintsSchemaSql(s: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${s}.hints (
  peer   text COLLATE "C" NOT NULL,
  engine text COLLATE "C" NOT NULL,
  doc_id text COLLATE "C" NOT NULL,
  PRIMARY KEY (peer, engine, doc_id)
);`
}

/** PostgreSQL allows 65535 bind parameters per statement; hints take 3 each. */
const ROWS_PER_INSERT = 20_000

/** Hint rows of one schema; each call is one statement (autocommit) or one per 20 000 hints. */
export class PostgresHints {
  constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
  ) {}

  async put(hints: readonly Hint[]): Promise<void> {
    for (let i = 0; i < hints.length; i += ROWS_PER_INSERT) {
      const chunk = hints.slice(i, i + ROWS_PER_INSERT)
      const values = chunk.map((_, r) => `($${r * 3 + 1}, $${r * 3 + 2}, $${r * 3 + 3})`)
      await this.pool.query(
        `INSERT INTO ${this.s}.hints (peer, engine, doc_id) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`,
        chunk.flatMap((h) => [h.peer, h.doc.engine, h.doc.docId]),
      )
    }
  }

  async all(): Promise<Hint[]> {
    const { rows } = await this.pool.query<{ peer: string; engine: DocKey['engine']; doc_id: string }>(
      `SELECT peer, engine, doc_id FROM ${this.s}.hints ORDER BY peer, engine, doc_id`,
    )
    return rows.map((r) => ({ peer: r.peer, doc: { engine: r.engine, docId: r.doc_id as DocKey['docId'] } }))
  }

  async deletePeer(peer: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.s}.hints WHERE peer = $1`, [peer])
  }
}
