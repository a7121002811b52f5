import { StartupError } from '../startup-error.js'
import { DataDirLock, currentHolder, type LockPurpose } from './data-dir-lock.js'
import { PostgresStoreLock } from './postgres-lock.js'

/** A node's claim on its store, taken before the store is opened and given up after it closed. */
export interface StoreLock {
  readonly description: string
  release(): Promise<void>
}

/**
 * Take the lock of the store `storage` names (see `openStorage`): the data dir of SQLite, the schema of
 * PostgreSQL; memory stores need none (null). Throws a StartupError naming the holder when it is taken.
 * A node takes it to serve the store, `murmur restore` to fill it: neither while the other holds it.
 */
export async function lockStore(storage: string, dataDir: string, nodeId: string | null, onLost: (err: Error) => void, purpose: LockPurpose = 'serve'): Promise<StoreLock | null> {
  const spec = storage.trim()
  const holder = currentHolder(nodeId, purpose)
  if (spec === '' || spec === 'sqlite') return DataDirLock.acquire(dataDir, holder)
  if (spec === 'memory') return null
  if (/^postgres(ql)?:\/\//iu.test(spec)) {
    let url: URL
    try {
      url = new URL(spec)
    } catch {
      throw new StartupError('--storage: not a valid postgres:// URL; expected postgres://user@host:port/db[?schema=name]')
    }
    return PostgresStoreLock.acquire(spec, url.searchParams.get('schema') ?? 'murmur', holder, onLost)
  }
  throw new StartupError(`--storage "${spec}" is not a store; use sqlite, memory or a postgres:// URL`)
}
