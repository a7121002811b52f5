import type pg from 'pg'
import { StartupError } from '../startup-error.js'
import { withDefaultUser } from '../storage/postgres-connection.js'
import { inUseAdvice, type LockHolder } from './data-dir-lock.js'

/** The two-key advisory lock space of Murmur stores: (this constant, hashtext(schema)). */
const LOCK_CLASS = 'murmur-store'

/** The URL without credentials, for messages. */
function redacted(connectionString: string): string {
  try {
    const url = new URL(connectionString)
    url.username = ''
    url.password = ''
    url.search = ''
    return url.toString()
  } catch {
    return 'postgres://…'
  }
}

/** The session's `application_name` (at most 63 bytes), which a refused node reads to name the holder. */
function applicationName(holder: LockHolder): string {
  const node = holder.nodeId === null ? '' : ` node=${holder.nodeId}`
  const what = holder.purpose === 'restore' ? 'restore ' : ''
  return `murmur ${what}pid=${holder.pid} host=${holder.host}${node}`.slice(0, 63)
}

/**
 * One owner per PostgreSQL store: a session advisory lock on the store's schema, held by a connection of
 * its own for as long as the node runs. PostgreSQL drops it when that session ends, so a node killed
 * with -9 never blocks its restart. Losing the session (a database restart) is reported through `onLost`.
 */
export class PostgresStoreLock {
  private constructor(
    private readonly client: pg.Client,
    readonly description: string,
  ) {}

  static async acquire(connectionString: string, schema: string, holder: LockHolder, onLost: (err: Error) => void): Promise<PostgresStoreLock> {
    const { Client } = (await import('pg')).default
    const client = new Client({ connectionString: withDefaultUser(connectionString), connectionTimeoutMillis: 10_000, application_name: applicationName(holder) })
    client.on('error', () => undefined)
    const where = redacted(connectionString)
    try {
      await client.connect()
    } catch (err) {
      await client.end().catch(() => undefined)
      throw new StartupError(`--storage ${where}: cannot connect to PostgreSQL (${(err as Error).message}); check the URL and that the server is running`)
    }
    const keys = [LOCK_CLASS, schema]
    const taken = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', keys)
    if (taken.rows[0]?.ok !== true) {
      const holderRow = await client.query<{ application_name: string | null; pid: number }>(
        `SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
           AND l.classid::bigint = (hashtext($1)::bigint & 4294967295) AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)`,
        keys,
      )
      await client.end().catch(() => undefined)
      const row = holderRow.rows[0]
      const name = row?.application_name ?? ''
      const who = row === undefined ? 'another node' : name.startsWith('murmur ') ? `"${name}"` : `PostgreSQL session ${row.pid}`
      const restoring = name.startsWith('murmur restore ') ? { ...holder, purpose: 'restore' as const } : null
      throw new StartupError(`--storage ${where} (schema "${schema}") is in use by ${who}; ${inUseAdvice(holder.purpose ?? 'serve', restoring, '?schema=')}`)
    }
    client.once('end', () => onLost(new Error(`the session holding the store lock of schema "${schema}" ended`)))
    return new PostgresStoreLock(client, `advisory lock on schema "${schema}"`)
  }

  async release(): Promise<void> {
    this.client.removeAllListeners('end')
    await this.client.end().catch(() => undefined)
  }
}
