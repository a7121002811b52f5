import S3rver from 's3rver'
import { onTestFinished } from 'vitest'
import { tempDir } from './servers.js'

export interface LocalS3 {
  /** http://127.0.0.1:port */
  readonly endpoint: string
  readonly bucket: string
  /** The credentials s3rver checks signatures with. */
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

/** A local S3-compatible server on a free loopback port with one empty bucket; closed when the test ends. */
export async function startLocalS3(bucket = 'murmur-backups'): Promise<LocalS3> {
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: tempDir('murmur-s3-'), configureBuckets: [{ name: bucket }] })
  const { port } = await server.run()
  onTestFinished(() => server.close())
  return { endpoint: `http://127.0.0.1:${port}`, bucket, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
}
