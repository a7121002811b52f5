import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'

/**
 * A backup archive is one gzip stream: a header line of JSON, then the store's payload. gzip's trailer
 * (CRC-32 and length of everything inside) makes a truncated or corrupt archive fail to read to its end,
 * so a restore stages everything and commits only once the whole archive was read.
 *
 * - `sqlite`: the payload is the SQLite database file, as the online backup API copied it.
 * - `postgres`: the payload is one JSON record per line (`postgres-export.ts`), ending with a record that
 *   counts the rows, so a restore also knows it saw every row.
 */
export const ArchiveStore = { sqlite: 'sqlite', postgres: 'postgres' } as const
export type ArchiveStore = (typeof ArchiveStore)[keyof typeof ArchiveStore]

export interface ArchiveHeader {
  readonly format: 'murmur-backup'
  readonly version: 1
  readonly store: ArchiveStore
  /** The store's schema version when the backup was taken. */
  readonly schemaVersion: number
  /** When the backup's snapshot was taken (ISO 8601). */
  readonly createdAt: string
  /** Payload bytes (sqlite), when known before writing. */
  readonly bytes?: number
}

/** A backup that cannot be restored: missing, not a backup, corrupt, or of the other kind of store. */
export class BackupError extends Error {
  override name = 'BackupError'
}

const MAX_HEADER = 4096

/** Compresses the header line and the payload into an archive. */
export function writeArchive(header: ArchiveHeader, payload: Readable): Readable {
  const gzip = createGzip()
  gzip.write(JSON.stringify(header) + '\n')
  payload.on('error', (err) => gzip.destroy(err))
  payload.pipe(gzip)
  return gzip
}

function parseHeader(line: string): ArchiveHeader {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw new BackupError('not a Murmur backup (its header is not readable)')
  }
  const h = value as Partial<ArchiveHeader> | null
  if (h === null || typeof h !== 'object' || h.format !== 'murmur-backup') throw new BackupError('not a Murmur backup')
  if (h.version !== 1) throw new BackupError(`backup format version ${String(h.version)} is not one this server reads`)
  if (h.store !== ArchiveStore.sqlite && h.store !== ArchiveStore.postgres) throw new BackupError(`backup of an unknown store "${String(h.store)}"`)
  if (typeof h.schemaVersion !== 'number' || typeof h.createdAt !== 'string') throw new BackupError('not a Murmur backup (its header is incomplete)')
  return h as ArchiveHeader
}

/** Splits the decompressed archive into its header (resolved first) and the payload after it. */
class HeaderSplitter extends Transform {
  private pending: Buffer = Buffer.alloc(0)
  private found = false
  readonly header: Promise<ArchiveHeader>
  private resolveHeader!: (h: ArchiveHeader) => void
  private rejectHeader!: (err: Error) => void

  constructor() {
    super()
    this.header = new Promise((resolve, reject) => {
      this.resolveHeader = resolve
      this.rejectHeader = reject
    })
    // The payload's reader reports failures; an unobserved rejection must not crash the process.
    this.header.catch(() => {})
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.found) return done(null, chunk)
    this.pending = Buffer.concat([this.pending, chunk])
    const nl = this.pending.indexOf(0x0a)
    if (nl < 0) {
      if (this.pending.length > MAX_HEADER) return done(this.fail(new BackupError('not a Murmur backup')))
      return done()
    }
    let header: ArchiveHeader
    try {
      header = parseHeader(this.pending.subarray(0, nl).toString('utf8'))
    } catch (err) {
      return done(this.fail(err as Error))
    }
    this.found = true
    this.resolveHeader(header)
    const rest = this.pending.subarray(nl + 1)
    this.pending = Buffer.alloc(0)
    done(null, rest.length > 0 ? rest : undefined)
  }

  override _flush(done: TransformCallback): void {
    if (!this.found) return done(this.fail(new BackupError('not a Murmur backup (it ends before its header)')))
    done()
  }

  private fail(err: Error): Error {
    this.rejectHeader(err)
    return err
  }
}

/** What gunzip and the header check report, as one line an operator can act on. */
export function archiveError(err: unknown): Error {
  if (err instanceof BackupError) return err
  const code = err instanceof Error && 'code' in err ? String(err.code) : ''
  if (code.startsWith('Z_') || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new BackupError(`the backup is corrupt or truncated (${(err as Error).message})`)
  }
  return err instanceof Error ? err : new Error(String(err))
}

/**
 * Reads an archive: resolves the header as soon as it is read, and hands the payload to `consume`, which
 * must read it to its end. Rejects (with a BackupError for a damaged archive) if anything fails, including
 * gzip's check at the very end; the caller commits what `consume` staged only after this resolved.
 */
export async function readArchive(
  source: Readable,
  consume: (header: ArchiveHeader, payload: Readable) => Promise<void>,
): Promise<ArchiveHeader> {
  const splitter = new HeaderSplitter()
  const gunzip = createGunzip()
  const reading = pipeline(source, gunzip, splitter)
  let header: ArchiveHeader
  try {
    header = await Promise.race([splitter.header, reading.then(() => splitter.header)])
  } catch (err) {
    throw archiveError(err)
  }
  try {
    await Promise.all([consume(header, splitter), reading])
  } catch (err) {
    splitter.destroy()
    throw archiveError(err)
  }
  return header
}
