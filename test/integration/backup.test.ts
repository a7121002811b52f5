import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { PostgresStorage, SqliteStorage, backupStore, openLocation, restoreStore, type BackupOutcome } from '../../server/dist/index.js'
import { PG_URL, postgresReachable } from '../support/postgres.js'
import { startLocalS3 } from '../support/s3.js'
import { spawnNode, startTestServer, tempDir } from '../support/servers.js'
import { within } from '../support/wait.js'
import { HttpWriters, missingWrites } from '../support/writers.js'

const cli = path.resolve(import.meta.dirname, '../../server/dist/cli.js')

interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `murmur <args>` to its end. */
function murmur(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return within(new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr }))), 60_000, `murmur ${args[0]}`)
}

const WRITERS = 5
/** Acknowledged updates per writer before the backup starts. */
const BEFORE = 20

async function sqliteMissing(dataDir: string, acked: number[][]): Promise<string[]> {
  const restored = await SqliteStorage.open({ path: path.join(dataDir, 'murmur.db') })
  try {
    return await missingWrites(acked, (docId) => restored.load({ engine: 'yjs', docId: docId as never }))
  } finally {
    await restored.close()
  }
}

describe('backup and restore', () => {
  it('SQLite: a backup taken while 5 writers write restores into an empty dir with every write acknowledged before it', async () => {
    const server = await startTestServer({ storage: 'sqlite', dataDir: tempDir(), httpRequestsPerMinute: 0 })
    const writers = new HttpWriters(server.url, WRITERS)
    onTestFinished(() => writers.stop().catch(() => {}))
    await within(writers.reach(BEFORE), 30_000, 'the writers to be acknowledged')
    const before = writers.snapshot()
    const folder = tempDir()
    const result = await backupStore({ storage: 'sqlite', dataDir: server.config.dataDir }, await openLocation(folder + '/'))
    // The node went on serving: the writers are acknowledged after the backup as well.
    const afterBackup = writers.snapshot().map((a) => a.length)
    await within(writers.reach(Math.max(...afterBackup) + 2), 30_000, 'writes after the backup')
    await writers.stop()
    expect(readdirSync(folder)).toEqual([path.basename(result.location)])

    const target = tempDir()
    const header = await restoreStore(await openLocation(result.location), { storage: 'sqlite', dataDir: target })
    expect(header.store).toBe('sqlite')
    expect(await sqliteMissing(target, before)).toEqual([])
  })

  it('SQLite through an S3-compatible server, with the murmur CLI against a running node', async () => {
    const s3 = await startLocalS3()
    const node = await spawnNode(['--port', '0', '--data-dir', tempDir(), '--http-requests-per-minute', '0'])
    const dataDir = node.output.join('\n').match(/storage: sqlite:(\S+)\/murmur\.db/)?.[1]
    expect(dataDir).toBeTruthy()
    const writers = new HttpWriters(node.url, WRITERS)
    onTestFinished(() => writers.stop().catch(() => {}))
    await within(writers.reach(BEFORE), 30_000, 'the writers to be acknowledged')
    const before = writers.snapshot()
    // Credentials through the standard AWS variables, the endpoint through a flag.
    const awsEnv = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }
    const backup = await murmur(['backup', '--data-dir', dataDir!, '--to', `s3://${s3.bucket}/nightly/`, '--s3-endpoint', s3.endpoint], awsEnv)
    expect(backup.stderr).toBe('')
    expect(backup.code).toBe(0)
    const key = backup.stdout.match(/written to (s3:\/\/\S+)/)?.[1]
    expect(key).toMatch(new RegExp(`^s3://${s3.bucket}/nightly/murmur-backup-.*\\.gz$`))
    await writers.stop()

    const target = tempDir()
    const restore = await murmur(['restore', '--data-dir', target, '--from', key!, '--s3-endpoint', s3.endpoint], awsEnv)
    expect(restore.stderr).toBe('')
    expect(restore.code).toBe(0)
    expect(await sqliteMissing(target, before)).toEqual([])

    const missing = await murmur(['restore', '--data-dir', tempDir(), '--from', `s3://${s3.bucket}/nightly/none.gz`, '--s3-endpoint', s3.endpoint], awsEnv)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^murmur restore: no backup at s3:\/\/.*none\.gz: the object does not exist\n$/)
  })

  it('an archive larger than one multipart part streams to S3 in parts and restores byte for byte', async () => {
    const s3 = await startLocalS3()
    const source = tempDir()
    const store = await SqliteStorage.open({ path: path.join(source, 'murmur.db') })
    // Random bytes do not compress: the archive passes the 5 MiB part size of the upload.
    const written = Array.from({ length: 28 }, () => randomBytes(256 * 1024))
    await Promise.all(written.map((bytes, i) => store.append({ engine: 'yjs', docId: `big-${i % 4}` as never }, bytes)))
    await store.close()
    const s3Options = { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
    const result = await backupStore({ storage: 'sqlite', dataDir: source }, await openLocation(`s3://${s3.bucket}/big.gz`, s3Options))
    expect(result.bytes).toBeGreaterThan(6 * 1024 * 1024)
    const target = tempDir()
    await restoreStore(await openLocation(`s3://${s3.bucket}/big.gz`, s3Options), { storage: 'sqlite', dataDir: target })
    const restored = await SqliteStorage.open({ path: path.join(target, 'murmur.db') })
    try {
      for (let d = 0; d < 4; d++) {
        const doc = await restored.load({ engine: 'yjs', docId: `big-${d}` as never })
        const expected = written.filter((_, i) => i % 4 === d).map((b) => Buffer.from(b).toString('hex')).sort()
        expect(doc!.updates.map((u) => Buffer.from(u).toString('hex')).sort()).toEqual(expected)
      }
    } finally {
      await restored.close()
    }
  })

  it('bad input gets one clear line and a non-zero exit', async () => {
    const server = await startTestServer({ storage: 'sqlite', dataDir: tempDir(), httpRequestsPerMinute: 0 })
    const writers = new HttpWriters(server.url, 1)
    await within(writers.reach(3), 30_000, 'a few writes')
    await writers.stop()
    const dir = tempDir()
    const good = path.join(dir, 'good.gz')
    const made = await murmur(['backup', '--data-dir', server.config.dataDir, '--to', good])
    expect(made.code).toBe(0)

    const oneLine = (run: CliRun, pattern: RegExp): void => {
      expect(run.code).not.toBe(0)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(run.stderr).toMatch(pattern)
    }
    oneLine(await murmur(['restore', '--data-dir', tempDir(), '--from', path.join(dir, 'nope.gz')]), /no backup at .*nope\.gz: the file does not exist/)
    const bytes = readFileSync(good)
    writeFileSync(path.join(dir, 'cut.gz'), bytes.subarray(0, bytes.length - 20))
    const emptyDir = tempDir()
    oneLine(await murmur(['restore', '--data-dir', emptyDir, '--from', path.join(dir, 'cut.gz')]), /the backup is corrupt or truncated/)
    // A failed restore leaves the target as it was (but for the lock it took, as a node leaves it).
    expect(readdirSync(emptyDir).filter((f) => !f.startsWith('murmur.lock'))).toEqual([])
    writeFileSync(path.join(dir, 'junk.gz'), 'not a backup at all\n')
    oneLine(await murmur(['restore', '--data-dir', tempDir(), '--from', path.join(dir, 'junk.gz')]), /the backup is corrupt or truncated/)
    oneLine(await murmur(['restore', '--data-dir', server.config.dataDir, '--from', good]), /--data-dir .* is in use by pid \d+ .*; stop that node before restoring into its store/)
    await server.close()
    oneLine(await murmur(['restore', '--data-dir', server.config.dataDir, '--from', good]), /refusing to restore into .*: its store is not empty/)
    oneLine(await murmur(['backup', '--data-dir', tempDir(), '--to', path.join(dir, 'x.gz')]), /no SQLite store at /)
    oneLine(await murmur(['backup', '--data-dir', server.config.dataDir, '--to', good]), /exists already/)
    const usage = await murmur(['backup', '--data-dir', server.config.dataDir])
    expect(usage.code).toBe(2)
    expect(usage.stderr.split('\n')[0]).toBe('murmur backup: --to is required')
  }, 180_000)
})

describe('backup and restore on PostgreSQL', async () => {
  const reachable = await postgresReachable('the PostgreSQL backup tests')

  it.runIf(reachable)('a backup taken while 5 writers write restores into an empty schema with every write acknowledged before it', async () => {
    const id = `${process.pid}_${Date.now()}`
    const source = `bk_src_${id}`
    const target = `bk_dst_${id}`
    onTestFinished(async () => {
      const client = new pg.Client({ connectionString: PG_URL })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS ${source} CASCADE; DROP SCHEMA IF EXISTS ${target} CASCADE`)
      await client.end()
    })
    const server = await startTestServer({ storage: `${PG_URL}?schema=${source}`, httpRequestsPerMinute: 0 })
    const writers = new HttpWriters(server.url, WRITERS)
    onTestFinished(() => writers.stop().catch(() => {}))
    await within(writers.reach(BEFORE), 30_000, 'the writers to be acknowledged')
    const before = writers.snapshot()
    const file = path.join(tempDir(), 'pg.gz')
    const result = await backupStore({ storage: `${PG_URL}?schema=${source}`, dataDir: tempDir() }, await openLocation(file))
    expect(result.header.store).toBe('postgres')
    await writers.stop()

    const into = { storage: `${PG_URL}?schema=${target}`, dataDir: tempDir() }
    await restoreStore(await openLocation(file), into)
    const restored = await PostgresStorage.open({ connectionString: PG_URL, schema: target })
    try {
      expect(await missingWrites(before, (docId) => restored.load({ engine: 'yjs', docId: docId as never }))).toEqual([])
    } finally {
      await restored.close()
    }
    // Restoring again finds the schema full, and says so.
    const again = await murmur(['restore', '--storage', into.storage, '--from', file])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/^murmur restore: refusing to restore into schema "bk_dst_.*": its store is not empty \(\d+ rows\); restore into an empty schema\n$/)
    // A truncated export is refused, and the restore's transaction leaves its schema empty.
    const bytes = readFileSync(file)
    const cut = path.join(tempDir(), 'cut.gz')
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)))
    const third = `bk_cut_${id}`
    onTestFinished(async () => {
      const client = new pg.Client({ connectionString: PG_URL })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS ${third} CASCADE`)
      await client.end()
    })
    const truncated = await murmur(['restore', '--storage', `${PG_URL}?schema=${third}`, '--from', cut])
    expect(truncated.code).toBe(1)
    expect(truncated.stderr).toMatch(/^murmur restore: the backup is corrupt or truncated/)
    const empty = await PostgresStorage.open({ connectionString: PG_URL, schema: third })
    try {
      expect(await empty.list()).toEqual([])
    } finally {
      await empty.close()
    }
    // A PostgreSQL backup is not restored into SQLite.
    const cross = await murmur(['restore', '--data-dir', tempDir(), '--from', file])
    expect(cross.code).toBe(1)
    expect(cross.stderr).toMatch(/this is a backup of a postgres store/)
  })
})

describe('scheduled backups', () => {
  it('murmur serve --backup-interval-ms writes a backup every interval, keeps the newest --backup-keep, logs and counts each', async () => {
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
    const folder = tempDir()
    const server = await startTestServer(
      { storage: 'sqlite', dataDir: tempDir(), httpRequestsPerMinute: 0, backupTo: folder + '/', backupIntervalMs: 200, backupKeep: 2 },
      { logger },
    )
    const outcomes: BackupOutcome[] = []
    let notify = (): void => {}
    server.backups!.onBackup((o) => {
      outcomes.push(o)
      notify()
    })
    const writers = new HttpWriters(server.url, 2)
    onTestFinished(() => writers.stop().catch(() => {}))
    await within(writers.reach(5), 30_000, 'the writers to be acknowledged')
    const ackedBeforeThird: number[][][] = []
    await within(
      new Promise<void>((resolve) => {
        notify = () => {
          if (outcomes.length === 2) ackedBeforeThird.push(writers.snapshot())
          if (outcomes.length >= 3) resolve()
        }
      }),
      30_000,
      'three scheduled backups',
    )
    await server.backups!.close()
    await writers.stop()
    const oks = outcomes.filter((o): o is Extract<BackupOutcome, { ok: true }> => o.ok)
    expect(oks.length).toBe(outcomes.length)
    // The two newest are kept; older ones were removed as each new one was written.
    expect(readdirSync(folder).sort()).toEqual(oks.slice(-2).map((o) => path.basename(o.result.location)).sort())
    expect(oks[2].removed).toEqual([path.basename(oks[0].result.location)])
    // One log line per backup, and the metrics count them.
    expect(lines.filter((l) => l.msg === 'backup written')).toHaveLength(outcomes.length)
    const metrics = await server.metrics.render()
    expect(metrics).toContain(`murmur_backups_total{result="ok"} ${outcomes.length}`)
    expect(metrics).toMatch(/murmur_backup_last_success_timestamp_seconds \d+/)
    // The third backup holds every write acknowledged before the second one was reported.
    const target = tempDir()
    await restoreStore(await openLocation(oks[2].result.location), { storage: 'sqlite', dataDir: target })
    expect(await sqliteMissing(target, ackedBeforeThird[0])).toEqual([])
  })

  it('to an S3 prefix: each backup an object of its own, the oldest beyond --backup-keep removed', async () => {
    const s3 = await startLocalS3()
    const server = await startTestServer({
      storage: 'sqlite',
      dataDir: tempDir(),
      backupTo: `s3://${s3.bucket}/node-a/`,
      backupIntervalMs: 200,
      backupKeep: 1,
      s3Endpoint: s3.endpoint,
      s3AccessKeyId: s3.accessKeyId,
      s3SecretAccessKey: s3.secretAccessKey,
    })
    const writers = new HttpWriters(server.url, 1)
    onTestFinished(() => writers.stop().catch(() => {}))
    await within(writers.reach(3), 30_000, 'a few writes')
    const outcomes: BackupOutcome[] = []
    await within(
      new Promise<void>((resolve) =>
        server.backups!.onBackup((o) => {
          outcomes.push(o)
          if (outcomes.length >= 2) resolve()
        }),
      ),
      30_000,
      'two scheduled backups',
    )
    await server.backups!.close()
    await writers.stop()
    const oks = outcomes.flatMap((o) => (o.ok ? [o.result.location] : []))
    expect(oks).toHaveLength(outcomes.length)
    const location = await openLocation(`s3://${s3.bucket}/node-a/`, { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey })
    expect((await location.list()).map((name) => `s3://${s3.bucket}/node-a/${name}`)).toEqual([oks.at(-1)])
  })

  it('refuses a schedule without a folder, or of the memory store, with one line', async () => {
    const run = await murmur(['serve', '--anonymous', '--port', '0', '--backup-interval-ms', '1000'])
    expect(run.code).toBe(2)
    expect(run.stderr.split('\n')[0]).toBe('murmur: --backup-interval-ms needs --backup-to (a folder/ or s3://bucket/prefix/)')
    const file = await murmur(['serve', '--anonymous', '--port', '0', '--data-dir', tempDir(), '--backup-interval-ms', '1000', '--backup-to', path.join(tempDir(), 'one.gz')])
    expect(file.code).toBe(2)
    expect(file.stderr).toMatch(/^murmur: --backup-to must be a folder/)
    const memory = await murmur(['serve', '--anonymous', '--port', '0', '--storage', 'memory', '--backup-interval-ms', '1000', '--backup-to', tempDir() + '/'])
    expect(memory.code).toBe(2)
    expect(memory.stderr.split('\n')[0]).toBe('murmur: --backup-interval-ms: the memory store keeps nothing to back up')
  })
})
