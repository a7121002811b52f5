/**
 * The SQLite store writes on a thread of its own: a commit that waits for the disk (or for a lock held by
 * another connection) must never stall the event loop that serves sockets.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it, onTestFinished } from 'vitest'
import { asDocId } from '@murmur/shared'
import { SqliteStorage } from '../../server/dist/storage/index.js'
import { within } from '../support/wait.js'

const key = (n: number) => ({ engine: 'yjs' as const, docId: asDocId(`doc-${n}`) })
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values)

async function tempPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'murmur-writer-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return join(dir, 'murmur.db')
}

describe('SQLite writer thread', () => {
  it('keeps the event loop running while commits wait for a write lock, and acks only after they commit', async () => {
    const path = await tempPath()
    // Long enough that a commit on the main thread would stall it for far more than the bound below.
    const storage = await SqliteStorage.open({ path, busyTimeoutMs: 10_000 })
    onTestFinished(() => storage.close())
    // Another connection (a backup, the sqlite3 shell) holds the write lock: every commit has to wait.
    const holder = new Database(path)
    onTestFinished(() => {
      holder.close()
    })
    holder.exec('BEGIN IMMEDIATE')

    // A stream of appends, 50 every 10 ms, for the measured window; the longest gap between two ticks
    // of the stream is how long the event loop was kept from running.
    const holdMs = 1000
    const payload = new Uint8Array(1024).fill(7)
    const outcomes: Promise<unknown>[] = []
    let acked = 0
    let longestGapMs = 0
    const streamStart = performance.now()
    let lastTick = streamStart
    let heldLongEnough!: () => void
    const held = new Promise<void>((resolve) => (heldLongEnough = resolve))
    const stream = setInterval(() => {
      const now = performance.now()
      longestGapMs = Math.max(longestGapMs, now - lastTick)
      lastTick = now
      if (now - streamStart >= holdMs) heldLongEnough()
      for (let i = 0; i < 50; i++) {
        const n = outcomes.length
        outcomes.push(storage.append(key(n % 20), payload).then(() => void acked++, (err: unknown) => err))
      }
    }, 10)
    onTestFinished(() => clearInterval(stream))
    // The stream's own ticks say when the window is over (a blocked loop delays them, which is measured).
    await within(held, 30_000, 'the stream to run for the measured window')
    clearInterval(stream)
    const ackedWhileHeld = acked
    holder.exec('COMMIT')
    const failures = (await Promise.all(outcomes)).filter((o) => o !== undefined)

    // A commit on the main thread blocks it for the whole wait (up to busyTimeoutMs); a writer thread
    // leaves it free. The bound is generous: it is about blocking, not about the machine's speed.
    expect(longestGapMs).toBeLessThan(holdMs / 2)
    expect(outcomes.length).toBeGreaterThan(500)
    expect(ackedWhileHeld).toBe(0) // nothing is acknowledged before its commit
    expect(failures).toEqual([])
    expect(acked).toBe(outcomes.length)
  })

  it('close commits what is pending, then lets go of the file', async () => {
    const path = await tempPath()
    // A long group-commit wait: these appends are still pending when close is called.
    const storage = await SqliteStorage.open({ path, groupCommitMs: 60_000 })
    const acks = Promise.all(Array.from({ length: 100 }, (_, n) => storage.append(key(n % 5), bytes(n))))
    await storage.close()
    expect(await acks).toHaveLength(100)
    // Leaving WAL mode needs every other connection closed, the writer thread's included; the last
    // connection to close checkpoints and removes the WAL file.
    expect(existsSync(`${path}-wal`)).toBe(false)
    const db = new Database(path)
    try {
      expect(db.pragma('journal_mode = DELETE', { simple: true })).toBe('delete')
      expect(db.prepare('SELECT count(*) FROM updates').pluck().get()).toBe(100)
    } finally {
      db.close()
    }
  })

  it('fails pending and later writes with a clear error when the writer thread dies, and still closes', async () => {
    const path = await tempPath()
    const storage = await SqliteStorage.open({ path })
    onTestFinished(() => storage.close())
    await storage.append(key(1), bytes(1))

    // A batch on its way to the writer, or already being committed, when the thread dies.
    const pending = Promise.allSettled(Array.from({ length: 10 }, (_, n) => storage.append(key(2), bytes(n))))
    const flushed = storage.flush().then(
      () => 'flushed',
      (err: unknown) => err,
    )
    await new Promise(setImmediate)
    await storage.killWriter()
    const crashed = { code: 'MUR_ERR_STORAGE_FAILED', message: expect.stringMatching(/writer thread exited unexpectedly/) }
    // Nothing hangs, and nothing is acknowledged that is not durable. The batch is one transaction: all
    // of it is stored or none. If the writer committed it but died before it could reply, it is stored
    // yet rejected (the client sends it again), never the other way round.
    const results = await pending
    const acked = results.filter((r) => r.status === 'fulfilled').length
    expect(acked === 0 || acked === 10).toBe(true)
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject(crashed)
    const stored = (await storage.load(key(2)))?.updates.length ?? 0
    expect(stored === 0 || stored === 10).toBe(true)
    expect(stored).toBeGreaterThanOrEqual(acked)
    expect(await flushed).toEqual(acked === 10 ? 'flushed' : expect.objectContaining(crashed))

    // Every later write fails at once, with the same cause, rather than waiting for a reply.
    await expect(storage.append(key(1), bytes(2))).rejects.toMatchObject(crashed)
    await expect(storage.compact(key(1), bytes(9), 1)).rejects.toMatchObject(crashed)
    await expect(storage.tombstone(key(1), 1)).rejects.toMatchObject(crashed)
    await expect(storage.outboxPut([{ id: 'x', body: '{}', dueAt: 0 }])).rejects.toMatchObject(crashed)
    // Reads do not go through the writer: what was durable before the crash still loads.
    expect((await storage.load(key(1)))?.updates).toEqual([bytes(1)])
    await storage.close()
  })
})
