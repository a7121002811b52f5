/*
 * The webhook outbox of PostgresStorage: its table, added to an existing schema as it is (the trace column
 * came later), and its reads and writes.
 */
import type pg from 'pg'
import { placeholders, transaction } from './postgres-connection.js'
import { traceList, traceText } from './log.js'
import type { OutboxInput, OutboxMessage } from './storage.js'

/** Appended to the schema: IF NOT EXISTS makes it the migration of existing schemas too. */
export function outboxSchemaSql(s: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${s}.outbox (
  id         text PRIMARY KEY,
  body       text NOT NULL,
  due_at     bigint NOT NULL,
  attempts   integer NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  last_error text
);
CREATE INDEX IF NOT EXISTS outbox_due ON ${s}.outbox (due_at, id);
ALTER TABLE ${s}.outbox ADD COLUMN IF NOT EXISTS trace text;`
}

/** PostgreSQL allows 65535 bind parameters per statement; messages take 4 each. */
const ROWS_PER_INSERT = 10_000

/** Outbox rows of one schema. */
export class PostgresOutbox {
  constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
  ) {}

  async put(messages: readonly OutboxInput[]): Promise<void> {
    if (messages.length === 0) return
    // One id at most once per statement: ON CONFLICT cannot touch a row twice.
    const latest = [...new Map(messages.map((m) => [m.id, m])).values()]
    const now = Date.now()
    await transaction(this.pool, async (client) => {
      for (let i = 0; i < latest.length; i += ROWS_PER_INSERT) {
        const chunk = latest.slice(i, i + ROWS_PER_INSERT)
        await client.query(
          `INSERT INTO ${this.s}.outbox (id, body, due_at, trace, created_at) VALUES ${placeholders(chunk.length, 4, `, ${now}`)}
           ON CONFLICT (id) DO UPDATE SET body = excluded.body, due_at = excluded.due_at, trace = excluded.trace`,
          chunk.flatMap((m) => [m.id, m.body, m.dueAt, traceText(m.trace)]),
        )
      }
    })
  }

  async due(now: number, limit: number): Promise<OutboxMessage[]> {
    const { rows } = await this.pool.query<{ id: string; body: string; due_at: string; attempts: number; created_at: string; last_error: string | null; trace: string | null }>(
      `SELECT id, body, due_at, attempts, created_at, last_error, trace FROM ${this.s}.outbox WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2`,
      [now, limit],
    )
    return rows.map((r) => ({
      id: r.id,
      body: r.body,
      dueAt: Number(r.due_at),
      attempts: r.attempts,
      createdAt: Number(r.created_at),
      lastError: r.last_error,
      trace: traceList(r.trace),
    }))
  }

  async retry(id: string, dueAt: number, error: string): Promise<void> {
    await this.pool.query(`UPDATE ${this.s}.outbox SET due_at = $1, attempts = attempts + 1, last_error = $2 WHERE id = $3`, [dueAt, error, id])
  }

  async done(id: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.s}.outbox WHERE id = $1`, [id])
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.s}.outbox`)
    return Number(rows[0]?.n ?? 0)
  }
}
