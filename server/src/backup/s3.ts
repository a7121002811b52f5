import { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { BackupError } from './archive.js'
import { isBackupName, type BackupLocation } from './backup-location.js'

/**
 * How to reach an S3-compatible store. Anything left out comes from the standard AWS environment
 * (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL_S3`,
 * profiles) as the AWS SDK reads it.
 */
export interface S3Options {
  /** e.g. http://127.0.0.1:9000 for a store other than AWS; null or absent for AWS itself. */
  readonly endpoint?: string | null
  readonly region?: string | null
  readonly accessKeyId?: string | null
  readonly secretAccessKey?: string | null
  /** Path-style URLs (`endpoint/bucket/key`); on by default with a custom endpoint. */
  readonly forcePathStyle?: boolean
}

async function client(options: S3Options): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3')
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? undefined
  const { accessKeyId, secretAccessKey } = options
  return new S3Client({
    endpoint,
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    // Checksums only where S3 requires them: many S3-compatible stores refuse the newer checksum trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

function s3Failure(what: string, err: unknown): BackupError {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return new BackupError(`${what} failed: ${message}`)
}

/** A bucket object, or a prefix of one (a key ending with `/`, or none) that holds many backups. */
export class S3Location implements BackupLocation {
  private constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    readonly description: string,
  ) {}

  get isFolder(): boolean {
    return this.key === '' || this.key.endsWith('/')
  }

  static async parse(spec: string, options: S3Options): Promise<S3Location> {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(spec)
    if (!m) throw new BackupError(`"${spec}" is not an s3://bucket/key location`)
    return new S3Location(await client(options), m[1], m[2], spec)
  }

  async write(archive: Readable, name: string): Promise<string> {
    const key = this.isFolder ? this.key + name : this.key
    const { Upload } = await import('@aws-sdk/lib-storage')
    try {
      // Multipart for a large archive, one PUT for a small one; the archive streams, never held whole.
      await new Upload({ client: this.s3, params: { Bucket: this.bucket, Key: key, Body: archive } }).done()
    } catch (err) {
      throw s3Failure(`upload to s3://${this.bucket}/${key}`, err)
    }
    return `s3://${this.bucket}/${key}`
  }

  async read(): Promise<Readable> {
    if (this.isFolder) throw new BackupError(`${this.description} is a prefix: name the backup object to restore`)
    const { GetObjectCommand } = await import('@aws-sdk/client-s3')
    try {
      const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }))
      if (!(Body instanceof Readable)) throw new Error('the response has no body')
      return Body
    } catch (err) {
      if (err instanceof Error && (err.name === 'NoSuchKey' || err.name === 'NotFound')) {
        throw new BackupError(`no backup at ${this.description}: the object does not exist`)
      }
      throw s3Failure(`download of ${this.description}`, err)
    }
  }

  async list(): Promise<string[]> {
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3')
    const names: string[] = []
    let token: string | undefined
    do {
      const page = await this.s3
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key, ContinuationToken: token }))
        .catch((err: unknown) => {
          throw s3Failure(`listing ${this.description}`, err)
        })
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(this.key.length)
        if (name !== undefined && isBackupName(name)) names.push(name)
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    return names.sort()
  }

  async remove(name: string): Promise<void> {
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3')
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key + name })).catch((err: unknown) => {
      throw s3Failure(`removing s3://${this.bucket}/${this.key}${name}`, err)
    })
  }
}
