import { BackupError } from './archive.js'
import type { BackupLocation } from './backup-location.js'
import { FileLocation } from './file-location.js'
import { S3Location, type S3Options } from './s3.js'

export { backupName, isBackupName, type BackupLocation } from './backup-location.js'
export type { S3Options } from './s3.js'

/** Parses a location: `s3://bucket/key`, `s3://bucket/prefix/`, or a file or folder path. */
export async function openLocation(spec: string, s3: S3Options = {}): Promise<BackupLocation> {
  if (spec.trim() === '') throw new BackupError('no backup location given')
  if (/^s3:\/\//i.test(spec)) return S3Location.parse(spec, s3)
  return FileLocation.at(spec)
}
