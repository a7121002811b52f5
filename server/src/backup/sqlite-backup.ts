import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import Database from 'better-sqlite3'
import { SCHEMA_VERSION } from '../storage/sqlite-schema.js'
import { ArchiveStore, BackupError, readArchive, writeArchive, type ArchiveHeader } from './archive.js'
import { snapshotSqlite } from './sqlite-snapshot.js'

/** A backup's archive, and the work to do once it was stored (removing its staging files). */
export interface StagedArchive {
  readonly archive: Readable
  readonly header: ArchiveHeader
  done(): Promise<void>
}

/**
 * Takes an online snapshot of the SQLite store `dbFile` (the backup API, on a worker thread) into a
 * temporary file and returns its archive. The node serving the file goes on writing meanwhile.
 */
export async function backupSqlite(dbFile: string): Promise<StagedArchive> {
  if ((await stat(dbFile).catch(() => null)) === null) throw new BackupError(`no SQLite store at ${dbFile}`)
  const dir = await mkdtemp(path.join(tmpdir(), 'murmur-backup-'))
  const done = (): Promise<void> => rm(dir, { recursive: true, force: true })
  try {
    const copy = path.join(dir, 'murmur.db')
    const createdAt = new Date().toISOString()
    const schemaVersion = await snapshotSqlite(dbFile, copy)
    const { size } = await stat(copy)
    const header: ArchiveHeader = { format: 'murmur-backup', version: 1, store: ArchiveStore.sqlite, schemaVersion, createdAt, bytes: size }
    return { archive: writeArchive(header, createReadStream(copy)), header, done }
  } catch (err) {
    await done()
    throw err
  }
}

/** Rows of a store, counted per table; zero everywhere means empty. */
function countRows(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name)
    let rows = 0
    for (const t of tables.filter((name) => ['snapshots', 'updates', 'tombstones', 'outbox'].includes(name))) {
      rows += db.prepare<[], number>(`SELECT count(*) FROM ${t}`).pluck().get() ?? 0
    }
    return rows
  } finally {
    db.close()
  }
}

/** Checks a restored file before it takes the store's place: a whole database of a schema this server reads. */
function verifyDatabase(file: string): void {
  let db
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (err) {
    throw new BackupError(`the backup's database cannot be opened: ${(err as Error).message}`)
  }
  try {
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok') throw new BackupError(`the backup's database is damaged (${String(check)})`)
    const version = Number(db.pragma('user_version', { simple: true }))
    if (version > SCHEMA_VERSION) throw new BackupError(`the backup's schema version ${version} is newer than this server's (${SCHEMA_VERSION})`)
  } catch (err) {
    if (err instanceof BackupError) throw err
    throw new BackupError(`the backup's database is damaged (${(err as Error).message})`)
  } finally {
    db.close()
  }
}

/**
 * Restores an archive into the SQLite store `dbFile`, which must be empty (missing, or without any row).
 * The database is written aside, read to the end of the archive (gzip's check), checked, and only then
 * renamed into place: a failed restore leaves the store as it was. The node must not be running on it.
 */
export async function restoreSqlite(source: Readable, dbFile: string): Promise<ArchiveHeader> {
  if ((await stat(dbFile).catch(() => null)) !== null) {
    const rows = countRows(dbFile)
    if (rows > 0) throw new BackupError(`refusing to restore into ${path.dirname(dbFile)}: its store is not empty (${rows} rows); restore into an empty data dir`)
  }
  await mkdir(path.dirname(dbFile), { recursive: true })
  const staging = `${dbFile}.restoring-${process.pid}`
  try {
    const header = await readArchive(source, async (h, payload) => {
      if (h.store !== ArchiveStore.sqlite) throw new BackupError(`this is a backup of a ${h.store} store: restore it with --storage set to one`)
      await pipeline(payload, createWriteStream(staging, { flags: 'wx' }))
    })
    verifyDatabase(staging)
    const file = await open(staging, 'r+')
    await file.sync().finally(() => file.close())
    // An empty store's leftovers (its WAL and shared memory) must not be read as part of the restored one.
    for (const suffix of ['', '-wal', '-shm']) await rm(dbFile + suffix, { force: true })
    await rename(staging, dbFile)
    const dir = await open(path.dirname(dbFile), 'r')
    await dir.sync().finally(() => dir.close())
    return header
  } finally {
    await rm(staging, { force: true })
  }
}
