import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import * as Y from 'yjs'
import { EngineName, type DocId } from '@murmur/shared'
import { SQLITE_FILE, openStorage } from '@murmur/server'
import { clusterSupport } from '../lib/cluster.js'
import { ServerProcess } from '../lib/server-process.js'
import { RowStatus, measureRow, okRow, statusRow, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { SystemId } from '../lib/systems.js'
import { CountingProxy, freePort } from '../lib/tcp-proxy.js'
import { sleep, withTimeout } from '../lib/timing.js'
import { TEXT } from '../lib/trace-updates.js'

interface AntiEntropyParams {
  readonly docs: number
  readonly diverged: number
  /** Anti-entropy round interval of both nodes. */
  readonly intervalMs: number
}

function params(quick: boolean): AntiEntropyParams {
  return quick ? { docs: 10_000, diverged: 5, intervalMs: 1000 } : { docs: 100_000, diverged: 5, intervalMs: 2000 }
}

/** What GET /v1/cluster says, as far as this scenario reads it. */
interface ClusterView {
  antiEntropy?: { rounds: number; completed: number; docsRepaired: number; bytesSent: number; indexReady: boolean; docs: number }
  replication?: { syncsStarted: number }
  members?: { id: string; connected: boolean }[]
}

async function view(node: ServerProcess): Promise<ClusterView> {
  const res = await fetch(`${node.httpUrl}/v1/cluster`)
  return (await res.json()) as ClusterView
}

async function version(node: ServerProcess, docId: string): Promise<string> {
  const res = await fetch(`${node.httpUrl}/v1/docs/yjs/${encodeURIComponent(docId)}`)
  return ((await res.json()) as { version?: string }).version ?? ''
}

const docId = (i: number): string => `ae-${String(i).padStart(6, '0')}`

/**
 * Both nodes' stores hold the same `docs` docs; `diverged` of them have one more update in A's store
 * only. Written through the storage API before the nodes start, as a node that missed pushes would be.
 */
async function seed(dirA: string, dirB: string, p: AntiEntropyParams): Promise<string[]> {
  const storage = await openStorage('sqlite', dirA, { groupCommitMs: 2 })
  const base: Uint8Array[] = []
  const BATCH = 2000
  for (let start = 0; start < p.docs; start += BATCH) {
    const appends: Promise<number>[] = []
    for (let i = start; i < Math.min(p.docs, start + BATCH); i++) {
      // Named: left unnamed, Yjs draws a random uuid for each doc, most of the seeding time.
      const doc = new Y.Doc({ guid: docId(i) })
      doc.getText(TEXT).insert(0, `doc ${i}`)
      const update = Y.encodeStateAsUpdate(doc)
      doc.destroy()
      if (base.length < p.docs) base.push(update)
      appends.push(storage.append({ engine: EngineName.yjs, docId: docId(i) as DocId }, update))
    }
    await Promise.all(appends)
  }
  await storage.close()
  mkdirSync(dirB, { recursive: true })
  for (const suffix of ['', '-wal', '-shm']) {
    const file = path.join(dirA, SQLITE_FILE + suffix)
    if (existsSync(file)) copyFileSync(file, path.join(dirB, SQLITE_FILE + suffix))
  }
  const diverged: string[] = []
  const onlyA = await openStorage('sqlite', dirA, { groupCommitMs: 2 })
  for (let k = 0; k < p.diverged; k++) {
    const i = Math.floor(((k + 0.5) * p.docs) / p.diverged)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, base[i])
    const before = Y.encodeStateVector(doc)
    doc.getText(TEXT).insert(0, 'diverged ')
    await onlyA.append({ engine: EngineName.yjs, docId: docId(i) as DocId }, Y.encodeStateAsUpdate(doc, before))
    doc.destroy()
    diverged.push(docId(i))
  }
  await onlyA.close()
  return diverged
}

const COLUMNS: readonly Column[] = [
  { key: 'repairMs', label: 'repair (round → equal)', unit: 'ms', better: 'lower' },
  { key: 'linkBytes', label: 'peer-link bytes', unit: 'bytes' },
  { key: 'aeBytes', label: 'digests (all rounds)', unit: 'bytes' },
  { key: 'syncs', label: 'docs synced', unit: 'count' },
  { key: 'fromReadyMs', label: 'from both ready', unit: 'ms' },
  { key: 'indexMs', label: 'start → index ready', unit: 'ms' },
]

export const antientropy: Scenario = {
  id: 'antientropy',
  title: 'antientropy: 2 nodes, many docs, a few diverged',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const rows: Row[] = []
    const notes: string[] = []
    const support = clusterSupport()
    for (const system of ctx.systems) {
      if (system.peer) {
        rows.push(statusRow(system, RowStatus.notApplicable, 'no cluster: a single server, nothing to repair between replicas'))
        continue
      }
      if (system.id !== SystemId.murmur) continue
      if (!support.available) {
        rows.push(statusRow(system, RowStatus.notYet, support.reason))
        continue
      }
      ctx.log(`  ${system.label}`)
      rows.push(
        await measureRow(ctx, system, async () => {
          const dirA = path.join(ctx.workDir, 'antientropy-a')
          const dirB = path.join(ctx.workDir, 'antientropy-b')
          mkdirSync(dirA, { recursive: true })
          const seedStart = performance.now()
          const diverged = await seed(dirA, dirB, p)
          ctx.log(`    seeded ${p.docs} docs in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`)
          const [portA, portB] = [await freePort(), await freePort()]
          const proxyA = await CountingProxy.start(portA)
          const proxyB = await CountingProxy.start(portB)
          const nodes: ServerProcess[] = []
          try {
            const args = (dir: string, id: string, self: CountingProxy, other: CountingProxy): string[] => [
              '--data-dir', dir, '--storage', 'sqlite', '--node-id', id, '--cluster-secret', 'bench',
              '--advertise-url', `ws://127.0.0.1:${self.port}`, '--peers', `ws://127.0.0.1:${other.port}`,
              '--anti-entropy-ms', String(p.intervalMs),
            ]
            const startAt = performance.now()
            const [a, b] = await Promise.all([
              ServerProcess.start({ kind: 'murmur', options: { args: args(dirA, 'a', proxyA, proxyB) } }, portA, 180_000),
              ServerProcess.start({ kind: 'murmur', options: { args: args(dirB, 'b', proxyB, proxyA) } }, portB, 180_000),
            ])
            nodes.push(a, b)
            const ready = (v: ClusterView): boolean => v.antiEntropy?.indexReady === true && (v.members ?? []).filter((m) => m.connected).length >= 2
            const sum = (vs: ClusterView[], f: (v: ClusterView) => number): number => vs.reduce((s, v) => s + f(v), 0)
            const rounds = (v: ClusterView): number => v.antiEntropy?.rounds ?? 0
            const syncs = (v: ClusterView): number => v.replication?.syncsStarted ?? 0
            // Every poll notes when the round counters last moved, and the link bytes then: the round that
            // repairs may start while the nodes are still getting ready.
            let views: ClusterView[] = []
            let lastRounds = -1
            let roundAt = NaN
            let bytesAtRound = 0
            // The round started after the previous poll: its time and bytes bound the round's start from below,
            // so repair time and bytes are counted generously (up to one poll more).
            let previous = { at: performance.now(), bytes: 0 }
            const poll = async (): Promise<ClusterView[]> => {
              const now = await Promise.all(nodes.map(view))
              if (sum(now, rounds) !== lastRounds) {
                lastRounds = sum(now, rounds)
                roundAt = previous.at
                bytesAtRound = previous.bytes
              }
              previous = { at: performance.now(), bytes: proxyA.bytes + proxyB.bytes }
              return now
            }
            await withTimeout(
              (async () => {
                for (;;) {
                  views = await poll()
                  if (views.every(ready)) return
                  await sleep(10)
                }
              })(),
              180_000,
              'both nodes ready',
            )
            const readyAt = performance.now()
            const equal = async (): Promise<boolean> => {
              for (const id of diverged) if ((await version(a, id)) !== (await version(b, id))) return false
              return true
            }
            // Until a round has started a repair (the syncs counter moves), or the docs are equal already.
            let repairStarted = false
            await withTimeout(
              (async () => {
                for (;;) {
                  const now = await poll()
                  if (sum(now, syncs) > 0) {
                    repairStarted = true
                    return
                  }
                  if (await equal()) return
                  await sleep(10)
                }
              })(),
              30_000,
              'a round that starts a repair',
            )
            if (!repairStarted) notes.push('the diverged docs became equal without a repair being counted')
            while (!(await equal())) {
              if (performance.now() - readyAt > 30_000) throw new Error('the diverged docs were not repaired within 30 s')
              await sleep(10)
            }
            const equalAt = performance.now()
            const after = await Promise.all(nodes.map(view))
            const row = okRow(
              system,
              {
                repairMs: equalAt - roundAt,
                linkBytes: proxyA.bytes + proxyB.bytes - bytesAtRound,
                // Digest bytes of every round so far (a round with nothing to repair costs one message each way).
                aeBytes: sum(after, (v) => v.antiEntropy?.bytesSent ?? 0),
                syncs: sum(after, syncs),
                fromReadyMs: equalAt - readyAt,
                indexMs: readyAt - startAt,
              },
              `SQLite on both nodes; ${p.docs.toLocaleString('en-US')} docs, ${p.diverged} diverged; round every ${p.intervalMs} ms`,
            )
            return { ...row, system: 'Murmur, 2-node cluster' }
          } finally {
            await Promise.all(nodes.map((n) => n.stop().catch(() => n.kill())))
            await proxyA.close()
            await proxyB.close()
          }
        }),
      )
    }
    const murmur = rows.find((r) => r.systemId === SystemId.murmur && r.status === RowStatus.ok)
    return {
      id: 'antientropy',
      title: this.title,
      measures:
        `Two Murmur nodes whose stores hold the same ${p.docs.toLocaleString('en-US')} Yjs docs, ${p.diverged} of them with one more update on ` +
        `node A only. Both start; once both version indexes are built and the nodes are linked, the round counters of GET /v1/cluster ` +
        `are polled every 10 ms. Repair = from the poll before the last round start seen until the diverged docs have the same version on ` +
        `both nodes (±10 ms). Bytes = everything on the peer links in that time (through counting TCP relays); digests = the anti-entropy ` +
        `messages' own bytes over all rounds; docs synced = every doc sync the nodes started.`,
      target: 'repair < 1 s and < 100 KiB',
      params: p,
      columns: COLUMNS,
      ratioKey: null,
      rows,
      distributions: [],
      targetMet: murmur === undefined ? null : murmur.values.repairMs < 1000 && murmur.values.linkBytes < 100 * 1024,
      notes,
      durationMs: performance.now() - started,
    }
  },
}
