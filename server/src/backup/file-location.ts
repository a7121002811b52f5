import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BackupError } from './archive.js'
import { isBackupName, type BackupLocation } from './backup-location.js'

/** A backup file, or a folder of them. */
export class FileLocation implements BackupLocation {
  private constructor(
    private readonly target: string,
    readonly isFolder: boolean,
    readonly description: string,
  ) {}

  static async at(spec: string): Promise<FileLocation> {
    const target = path.resolve(spec)
    const existing = await stat(target).catch(() => null)
    const isFolder = spec.endsWith('/') || spec.endsWith(path.sep) || (existing?.isDirectory() ?? false)
    return new FileLocation(target, isFolder, spec)
  }

  async write(archive: Readable, name: string): Promise<string> {
    const final = this.isFolder ? path.join(this.target, name) : this.target
    const dir = path.dirname(final)
    await mkdir(dir, { recursive: true })
    if (!this.isFolder && (await stat(final).catch(() => null)) !== null) {
      throw new BackupError(`${final} exists already: choose another file, or a folder (ending with /)`)
    }
    // Written aside and renamed once synced: a file with a backup's name is always a whole backup.
    const partial = `${final}.partial-${process.pid}`
    try {
      await pipeline(archive, createWriteStream(partial, { flags: 'wx' }))
      const file = await open(partial, 'r+')
      await file.sync().finally(() => file.close())
    } catch (err) {
      await rm(partial, { force: true })
      throw err
    }
    await rename(partial, final)
    const parent = await open(dir, 'r')
    await parent.sync().finally(() => parent.close())
    return final
  }

  async read(): Promise<Readable> {
    const found = await stat(this.target).catch(() => null)
    if (found === null) throw new BackupError(`no backup at ${this.target}: the file does not exist`)
    if (found.isDirectory()) throw new BackupError(`${this.target} is a folder: name the backup file to restore`)
    return createReadStream(this.target)
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.target).catch(() => [])
    return names.filter(isBackupName).sort()
  }

  async remove(name: string): Promise<void> {
    await rm(path.join(this.target, name), { force: true })
  }
}
