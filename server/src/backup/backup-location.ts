import type { Readable } from 'node:stream'

/**
 * Where backups go and come from: a file, a folder, an S3 object, or an S3 prefix. A location given with a
 * trailing `/` (or naming an existing folder) is a folder: each backup gets a name of its own in it, and
 * scheduled backups prune the oldest there.
 */
export interface BackupLocation {
  /** The location as the operator wrote it, for logs and errors (no credentials). */
  readonly description: string
  /** True for a folder or prefix that holds many backups. */
  readonly isFolder: boolean
  /** Stores an archive (under `name` in a folder); resolves with where it went once it is durable. */
  write(archive: Readable, name: string): Promise<string>
  /** The archive at this location (a file or an object). Rejects with a BackupError when there is none. */
  read(): Promise<Readable>
  /** Backups in this folder (names made by `backupName`), oldest first. */
  list(): Promise<string[]>
  /** Removes one backup of this folder. */
  remove(name: string): Promise<void>
}

const NAME = /^murmur-backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.gz$/

/** A backup's file name: its time, so that names sort oldest first. */
export function backupName(at: Date): string {
  return `murmur-backup-${at.toISOString().replace(/[:.]/g, '-')}.gz`
}

export function isBackupName(name: string): boolean {
  return NAME.test(name)
}
