import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { within } from '../support/wait.js'
import { describe, expect, it, onTestFinished } from 'vitest'
import { asDocId } from '@murmur/shared'
import { SqliteStorage } from '../../server/dist/storage/index.js'

const WORKER = fileURLToPath(new URL('../support/append-worker.mjs', import.meta.url))
const DOCS = 4
/** Acks to collect before each kill; more arrive while the kill lands, and those count too. */
const ACKS_PER_ROUND = 2000
const ROUNDS = 3

/** Must match payload() in append-worker.mjs. */
function payload(n: number): Uint8Array {
  return new TextEncoder().encode(`entry ${n};`.repeat(1 + (n % 17)))
}

interface Ack {
  readonly doc: number
  readonly seq: number
  readonly n: number
}

/** Runs the worker until it has acknowledged `count` appends, kills it with SIGKILL, returns every ack it printed. */
async function runAndKill(dir: string, firstN: number, count: number): Promise<Ack[]> {
  const child = spawn(process.execPath, [WORKER, dir, String(DOCS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, APPEND_WORKER_FIRST_N: String(firstN) },
  })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const acks: Ack[] = []
  const lines = createInterface({ input: child.stdout })
  const allLines = new Promise<void>((resolve) => lines.once('close', resolve))
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))

  let killed = false
  // The synchronisation is the ack lines themselves; `within` only bounds the wait.
  const enoughAcks = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /^ack (\d+) (\d+) (\d+)$/.exec(line)
      if (!m) return
      acks.push({ doc: Number(m[1]), seq: Number(m[2]), n: Number(m[3]) })
      if (!killed && acks.length >= count) {
        killed = true
        process.kill(child.pid ?? 0, 'SIGKILL')
        resolve()
      }
    })
    child.once('exit', (code, signal) => {
      if (!killed) reject(new Error(`worker exited early (${code ?? signal}); stderr: ${stderr}`))
    })
  })
  await within(enoughAcks, 60_000, `${count} acks (got ${acks.length}; stderr: ${stderr})`)
  expect(await exited).toBe('SIGKILL')
  await allLines // lines written before death still arrive: those appends were acknowledged as well
  return acks
}

describe('SQLite storage survives kill -9', () => {
  it('keeps every acknowledged append intact across repeated crashes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'murmur-crash-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const acked: Ack[] = []
    let firstN = 0

    for (let round = 0; round < ROUNDS; round++) {
      const acks = await runAndKill(dir, firstN, ACKS_PER_ROUND)
      expect(acks.length).toBeGreaterThanOrEqual(ACKS_PER_ROUND)
      acked.push(...acks)
      // Leave a gap so numbers of appends that were in flight at the kill never collide with the next run.
      firstN = Math.max(...acked.map((a) => a.n)) + 1000

      const storage = await SqliteStorage.open({ path: join(dir, 'murmur.db') })
      try {
        for (let d = 0; d < DOCS; d++) {
          const doc = await storage.load({ engine: 'yjs', docId: asDocId(`crash-${d}`) })
          expect(doc?.droppedCorrupt).toBe(0)
          const updates = doc?.updates ?? []
          // Nothing is ever compacted or lost here, so the log is seqs 1..lastSeq without gaps.
          expect(updates.length).toBe(doc?.lastSeq)
          for (const ack of acked.filter((a) => a.doc === d)) {
            const stored = updates[ack.seq - 1]
            expect(stored, `doc ${d} seq ${ack.seq} (entry ${ack.n}) missing after round ${round}`).toBeDefined()
            expect(Buffer.from(stored).equals(Buffer.from(payload(ack.n))), `doc ${d} seq ${ack.seq} damaged`).toBe(true)
          }
        }
      } finally {
        await storage.close()
      }
    }
  })
})
