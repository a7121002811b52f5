import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { StartupError } from '../startup-error.js'

/** The lock file inside the data dir, and the note beside it that says who holds the lock. */
export const LOCK_FILE = 'murmur.lock'
export const HOLDER_FILE = 'murmur.lock.holder'

/** Who holds a store: written next to the lock so that a refused process can name it. */
export interface LockHolder {
  readonly pid: number
  readonly host: string
  readonly nodeId: string | null
  readonly startedAt: string
  /** What the holder does with the store: serve it (a node; absent in notes older nodes wrote) or restore into it. */
  readonly purpose?: LockPurpose
}

/** Why a store is locked: a node serves it, or `murmur restore` fills it. */
export type LockPurpose = 'serve' | 'restore'

export function currentHolder(nodeId: string | null, purpose: LockPurpose = 'serve'): LockHolder {
  return { pid: process.pid, host: hostname(), nodeId, startedAt: new Date().toISOString(), purpose }
}

export function describeHolder(holder: LockHolder | null): string {
  if (holder === null) return 'another process'
  const node = holder.nodeId === null ? '' : ` (node "${holder.nodeId}")`
  const what = holder.purpose === 'restore' ? 'murmur restore, ' : ''
  return `${what}pid ${holder.pid} on ${holder.host}${node}, started ${holder.startedAt}`
}

/** What to do about a store someone else holds, by what this process wants and what the holder does. */
export function inUseAdvice(wanted: LockPurpose, holder: LockHolder | null, other: string): string {
  if (holder?.purpose === 'restore') return 'wait for the restore to finish'
  return wanted === 'restore' ? 'stop that node before restoring into its store' : `stop that node or give this one another ${other}`
}

function readHolder(dir: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(join(dir, HOLDER_FILE), 'utf8')) as LockHolder
  } catch {
    return null
  }
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : ''
}

/**
 * The exclusive lock of a data dir: an SQLite database file held in an open `BEGIN EXCLUSIVE`
 * transaction. SQLite takes it with `fcntl` locks, which the kernel drops when the process dies (kill -9
 * included), so a stale lock never blocks a restart; a second connection of the same process is refused
 * like another process.
 */
export class DataDirLock {
  private constructor(
    readonly dir: string,
    private readonly db: Db,
  ) {}

  /** Take the lock of `dir` (created if missing), or throw a StartupError that names the holder. */
  static acquire(dir: string, holder: LockHolder): DataDirLock {
    try {
      mkdirSync(dir, { recursive: true })
    } catch (err) {
      throw new StartupError(`--data-dir ${dir}: cannot create it (${errnoOf(err) || (err as Error).message}); pick a folder this user may write to`)
    }
    let db: Db | null = null
    try {
      db = new Database(join(dir, LOCK_FILE), { timeout: 0 })
      db.exec('BEGIN EXCLUSIVE')
    } catch (err) {
      db?.close()
      const code = errnoOf(err)
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        const found = readHolder(dir)
        throw new StartupError(`--data-dir ${dir} is in use by ${describeHolder(found)}; ${inUseAdvice(holder.purpose ?? 'serve', found, '--data-dir')}`)
      }
      throw new StartupError(`--data-dir ${dir}: cannot lock it (${code || (err as Error).message}); check that this user may write to it`)
    }
    try {
      writeFileSync(join(dir, HOLDER_FILE), JSON.stringify(holder) + '\n')
    } catch (err) {
      db.close()
      throw new StartupError(`--data-dir ${dir}: cannot write ${HOLDER_FILE} (${errnoOf(err) || (err as Error).message}); check that this user may write to it`)
    }
    return new DataDirLock(dir, db)
  }

  get description(): string {
    return `${join(this.dir, LOCK_FILE)} (exclusive)`
  }

  /** Give the lock up (at shutdown, after storage closed). */
  release(): Promise<void> {
    if (this.db.open) {
      this.db.exec('ROLLBACK')
      this.db.close()
    }
    return Promise.resolve()
  }
}
