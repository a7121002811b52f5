/*
 * Connecting to PostgreSQL as libpq would (the OS account when a URL names no user), describing a
 * connection without its credentials, and running a transaction on a pooled connection. The storage
 * backend, the store lock and backups share them.
 */
import { userInfo } from 'node:os'
import type pg from 'pg'
import type { PoolClient } from 'pg'

/**
 * libpq falls back to the OS account when a URL names no user; pg only reads $USER, which services and
 * containers often lack. Do what libpq does so `postgres://host/db` means the same to both.
 */
export function withDefaultUser(connectionString: string): string {
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
export function describeConnection(connectionString: string): string {
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
export async function transaction<T>(pool: pg.Pool, fn: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
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

/** `($1, $2, …), (…)` for `rows` rows of `cols` parameters, each row ending with `extra` (literals). */
export function placeholders(rows: number, cols: number, extra = ''): string {
  const out: string[] = []
  for (let r = 0; r < rows; r++) {
    const cells = Array.from({ length: cols }, (_, c) => `$${r * cols + c + 1}`)
    out.push(`(${cells.join(', ')}${extra})`)
  }
  return out.join(', ')
}
