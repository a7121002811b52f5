import path from 'node:path'
import { Transform } from 'node:stream'
import { SQLITE_FILE, postgresTarget } from '../storage/index.js'
import { BackupError, type ArchiveHeader } from './archive.js'
import { backupName, type BackupLocation } from './location.js'
import { backupPostgres, restorePostgres } from './postgres-backup.js'
import { backupSqlite, restoreSqlite, type StagedArchive } from './sqlite-backup.js'

/** The store of a node, as its config names it (`--storage`, `--data-dir`). */
export interface StoreSpec {
  readonly storage: string
  readonly dataDir: string
}

export interface BackupResult {
  /** Where the archive went: a file path or an s3:// URL. */
  readonly location: string
  readonly header: ArchiveHeader
  /** Size of the archive (compressed). */
  readonly bytes: number
  readonly seconds: number
}

function stage(store: StoreSpec): Promise<StagedArchive> {
  const spec = store.storage.trim()
  if (spec === '' || spec === 'sqlite') return backupSqlite(path.join(store.dataDir, SQLITE_FILE))
  const postgres = postgresTarget(spec)
  if (postgres) return backupPostgres(postgres)
  if (spec === 'memory') throw new BackupError('the memory store keeps nothing to back up')
  throw new BackupError(`unknown storage "${store.storage}": expected "sqlite" or a postgres:// URL`)
}

/**
 * Takes a consistent online backup of a store and writes it to `location`: every write acknowledged
 * before the call is in it. The store may be serving a node meanwhile (see docs/operations.md).
 */
export async function backupStore(store: StoreSpec, location: BackupLocation): Promise<BackupResult> {
  const started = performance.now()
  const staged = await stage(store)
  try {
    let bytes = 0
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length
        done(null, chunk)
      },
    })
    staged.archive.on('error', (err) => counter.destroy(err))
    staged.archive.pipe(counter)
    const where = await location.write(counter, backupName(new Date(staged.header.createdAt)))
    return { location: where, header: staged.header, bytes, seconds: (performance.now() - started) / 1000 }
  } finally {
    await staged.done()
  }
}

/** Restores the backup at `location` into an empty store; refuses a store that holds anything. */
export async function restoreStore(location: BackupLocation, store: StoreSpec): Promise<ArchiveHeader> {
  const spec = store.storage.trim()
  const postgres = postgresTarget(spec)
  if (spec !== '' && spec !== 'sqlite' && !postgres) throw new BackupError(`cannot restore into storage "${store.storage}": expected "sqlite" or a postgres:// URL`)
  const source = await location.read()
  try {
    return postgres ? await restorePostgres(source, postgres) : await restoreSqlite(source, path.join(store.dataDir, SQLITE_FILE))
  } finally {
    source.destroy()
  }
}
