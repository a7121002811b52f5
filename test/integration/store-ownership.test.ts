import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, it, onTestFinished } from 'vitest'
import { randomId } from '@murmur/shared'
import { spawnNode, startTestServer, tempDir } from '../support/servers.js'
import { PG_URL, postgresReachable } from '../support/postgres.js'
import { escapeRegExp, firstLine, postUpdate, runCli, textUpdate } from '../support/cli.js'
import { eventually } from '../support/wait.js'

/**
 * One owner per store: a second node on a data dir (or a PostgreSQL schema) already in use is refused at
 * start with the holder's name, and a kill -9 of the owner never blocks a restart. Compaction after every
 * update makes two writers on one store lose acknowledged writes, so every write is checked after it.
 */
const WRITES = 8
const compacting = ['--compact-every-updates', '1']

async function writeAll(url: string, prefix: string): Promise<void> {
  for (let i = 0; i < WRITES; i++) expect(await postUpdate(url, `${prefix}-${i}`, textUpdate(`${prefix} write ${i}`))).toBe(200)
}

async function expectAll(url: string, prefix: string): Promise<void> {
  for (let i = 0; i < WRITES; i++) {
    const doc = await (await fetch(`${url}/v1/docs/yjs/${prefix}-${i}`)).json()
    expect(doc.content, `${prefix}-${i}`).toEqual({ t: `${prefix} write ${i}` })
  }
}

describe('one owner per data dir (SQLite)', () => {
  it('refuses a second process with the holder in one line, exit 1; after kill -9 a restart works and no acknowledged write is lost', async () => {
    const dir = tempDir()
    const first = await spawnNode(['--port', '0', '--data-dir', dir, ...compacting])
    await writeAll(first.url, 'a')

    const second = await runCli(['serve', '--anonymous', '--port', '0', '--data-dir', dir, ...compacting])
    expect(second.code).toBe(1)
    expect(firstLine(second.stderr)).toMatch(
      new RegExp(`^murmur: --data-dir ${escapeRegExp(dir)} is in use by pid ${first.child.pid} on ${escapeRegExp(hostname())}, started [0-9T:.Z-]+; stop that node or give this one another --data-dir$`, 'u'),
    )
    expect(second.stderr).not.toMatch(/\n\s+at /u)
    // The refused process touched nothing: the owner still serves every write.
    await expectAll(first.url, 'a')

    await first.kill('SIGKILL')
    const again = await spawnNode(['--port', '0', '--data-dir', dir, ...compacting])
    await expectAll(again.url, 'a')
    await writeAll(again.url, 'b')
    await again.kill('SIGTERM')
    const third = await spawnNode(['--port', '0', '--data-dir', dir])
    await expectAll(third.url, 'a')
    await expectAll(third.url, 'b')
  })

  it('refuses a second node in the same process too, and frees the dir when the first closes', async () => {
    const dir = tempDir()
    const first = await startTestServer({ storage: 'sqlite', dataDir: dir })
    await expect(startTestServer({ storage: 'sqlite', dataDir: dir })).rejects.toThrow(`--data-dir ${dir} is in use by pid ${process.pid}`)
    await first.close()
    const second = await startTestServer({ storage: 'sqlite', dataDir: dir })
    expect(second.storage.description).toContain(dir)
  })
})

describe('restore and a node never share a data dir', () => {
  /** A backup file of a store holding the writes of `writeAll(…, 'r')`. */
  async function backupFile(): Promise<string> {
    const sourceDir = tempDir()
    const source = await spawnNode(['--port', '0', '--data-dir', sourceDir])
    await writeAll(source.url, 'r')
    const file = path.join(tempDir(), 'store.murmur-backup')
    const backup = await runCli(['backup', '--to', file, '--data-dir', sourceDir])
    expect(backup.code, backup.stderr).toBe(0)
    await source.kill('SIGTERM')
    return file
  }

  it('refuses to restore into the data dir of a running node, in one line, exit 1, and leaves it alone', async () => {
    const file = await backupFile()
    const dir = tempDir()
    const node = await spawnNode(['--port', '0', '--data-dir', dir])
    const run = await runCli(['restore', '--from', file, '--data-dir', dir])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(
      new RegExp(`^murmur restore: --data-dir ${escapeRegExp(dir)} is in use by pid ${node.child.pid} on ${escapeRegExp(hostname())}, started [0-9T:.Z-]+; stop that node before restoring into its store\n$`, 'u'),
    )
    // The node still serves its (empty) store, and nothing was restored under it.
    const doc = (await (await fetch(`${node.url}/v1/docs/yjs/r-0`)).json()) as { content: { t?: string } }
    expect(doc.content.t ?? '').toBe('')
    await node.kill('SIGTERM')
  })

  it('a node does not start on a data dir while a restore writes it; it starts on the restored store after', async () => {
    const file = await backupFile()
    const dir = tempDir()
    // The restore reads its backup from a pipe, and waits there (holding the lock) until the test feeds it.
    const pipe = path.join(tempDir(), 'backup.pipe')
    execFileSync('mkfifo', [pipe])
    const restore = runCli(['restore', '--from', pipe, '--data-dir', dir], {}, 60_000)
    await eventually(async () => existsSync(path.join(dir, 'murmur.lock.holder')), 20_000, 'the restore to take the lock')
    expect(JSON.parse(readFileSync(path.join(dir, 'murmur.lock.holder'), 'utf8'))).toMatchObject({ purpose: 'restore' })

    const refused = await runCli(['serve', '--anonymous', '--port', '0', '--data-dir', dir])
    expect(refused.code).toBe(1)
    expect(firstLine(refused.stderr)).toMatch(
      new RegExp(`^murmur: --data-dir ${escapeRegExp(dir)} is in use by murmur restore, pid \\d+ on ${escapeRegExp(hostname())}, started [0-9T:.Z-]+; wait for the restore to finish$`, 'u'),
    )

    writeFileSync(pipe, readFileSync(file))
    const done = await restore
    expect(done.code, done.stderr).toBe(0)
    const node = await spawnNode(['--port', '0', '--data-dir', dir])
    await expectAll(node.url, 'r')
    await node.kill('SIGTERM')
  })
})

const pgAvailable = await postgresReachable('the PostgreSQL store-ownership test')

describe.skipIf(!pgAvailable)('one owner per PostgreSQL store', () => {
  it('refuses a second node on the same schema, exit 1; after kill -9 a restart works and no acknowledged write is lost', async () => {
    const schema = `murmur_own_${randomId().toLowerCase()}`
    onTestFinished(async () => {
      const admin = new pg.Client({ connectionString: PG_URL })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    })
    const storage = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`
    const first = await spawnNode(['--port', '0', '--node-id', 'pg-node', '--storage', storage, ...compacting])
    await writeAll(first.url, 'a')

    const second = await runCli(['serve', '--anonymous', '--port', '0', '--node-id', 'pg-node', '--storage', storage, ...compacting])
    expect(second.code).toBe(1)
    expect(firstLine(second.stderr)).toMatch(
      new RegExp(`^murmur: --storage \\S+ \\(schema "${schema}"\\) is in use by "murmur pid=${first.child.pid} host=${escapeRegExp(hostname())} node=pg-node"; stop that node or give this one another \\?schema=$`, 'u'),
    )
    await expectAll(first.url, 'a')
    // A restore is refused the same way (before it reads anything of its backup).
    const restore = await runCli(['restore', '--from', path.join(tempDir(), 'never-read.gz'), '--storage', storage])
    expect(restore.code).toBe(1)
    expect(restore.stderr).toMatch(
      new RegExp(`^murmur restore: --storage \\S+ \\(schema "${schema}"\\) is in use by "murmur pid=${first.child.pid} host=${escapeRegExp(hostname())} node=pg-node"; stop that node before restoring into its store\n$`, 'u'),
    )

    await first.kill('SIGKILL')
    // PostgreSQL ends the killed node's session (and its lock) once it sees the connection close.
    const again = await spawnNode(['--port', '0', '--node-id', 'pg-node', '--storage', storage, ...compacting])
    await expectAll(again.url, 'a')
  })
})
