import path from 'node:path'
import type * as Y from 'yjs'
import { clusterFlags, clusterSupport } from '../lib/cluster.js'
import { openDocClient, whenSynced, type DocClient } from '../lib/doc-clients.js'
import { machineCpu } from '../lib/machine.js'
import { CpuMeter, RssPeak, benchCpu } from '../lib/proc.js'
import {
  RowStatus,
  measureRowQuietly,
  splitDistributions,
  okRow,
  statusRow,
  withServer,
  type BenchContext,
  type Column,
  type Distribution,
  type Row,
  type Scenario,
} from '../lib/scenario.js'
import { ServerProcess } from '../lib/server-process.js'
import { freePort } from '../lib/tcp-proxy.js'
import { Samples, cdfPoints } from '../lib/stats.js'
import { SystemId, murmurHocuspocusSystem, type System } from '../lib/systems.js'
import { inBatches, sleep, withTimeout } from '../lib/timing.js'

const DOC = 'fanout'
/** Writers set their own key of this map to [seq, sendTime]; overwritten values are garbage-collected. */
const MAP = 'writers'

interface FanoutParams {
  readonly clients: number
  readonly writers: number
  readonly perWriterPerSecond: number
  readonly warmupMs: number
  readonly measureMs: number
  readonly drainMs: number
}

/**
 * The warm-up lets every server reach the steady state a long-running one is in: a fresh Node process under
 * this load spends its first 10 s or so compiling (a Murmur node's main thread went from 0.37 to 0.16 of a
 * core over them, V8's background threads from 0.2 to 0.03). Every system gets the same.
 */
function params(quick: boolean): FanoutParams {
  return quick
    ? { clients: 20, writers: 5, perWriterPerSecond: 10, warmupMs: 1000, measureMs: 2000, drainMs: 500 }
    : { clients: 100, writers: 20, perWriterPerSecond: 10, warmupMs: 10_000, measureMs: 10_000, drainMs: 1000 }
}

interface FanoutMeasurement {
  readonly latency: Samples
  /** With clients spread over nodes: deliveries whose writer and reader share a node, and the others. */
  readonly byHops: { readonly sameNode: Samples; readonly acrossNodes: Samples } | null
  readonly sentInWindow: number
  readonly serverCpu: number
  readonly serverRssPeak: number
  readonly benchCpu: number
  /** Cores used by other processes on the machine meanwhile. */
  readonly otherCpu: number
}

/**
 * Drive the writers and record, at every other client, the time from a write to its arrival. Only
 * writes sent inside the measuring window count; arrivals are awaited for `drainMs` after it. With
 * `nodes` > 1, client i is on node i % nodes (as `openAll` spreads them).
 */
async function drive(clients: readonly DocClient[], p: FanoutParams, serverPids: readonly number[], nodes = 1): Promise<FanoutMeasurement> {
  const latency = new Samples()
  const byHops = nodes > 1 ? { sameNode: new Samples(), acrossNodes: new Samples() } : null
  let windowStart = Infinity
  let windowEnd = Infinity
  // Send times by writer and seq. A reader sees only a key's latest value: when several writes of one
  // writer reach it in one transaction, each of those it skipped arrived at the same moment as the last.
  const sentTimes: number[][] = Array.from({ length: p.writers }, () => [])
  for (const [reader, c] of clients.entries()) {
    const map = c.doc.getMap(MAP) as Y.Map<[number, number]>
    const seen = new Array<number>(p.writers).fill(-1)
    map.observe((event) => {
      if (event.transaction.local) return
      const now = performance.now()
      for (const key of event.keysChanged) {
        const v = map.get(key)
        if (v === undefined) continue
        // The key is the writer's client index.
        const writer = Number(key)
        const seq = v[0]
        const times = sentTimes[writer]
        for (let s = seen[writer] + 1; s <= seq; s++) {
          const sentAt = times[s]
          if (sentAt < windowStart || sentAt >= windowEnd) continue
          latency.push(now - sentAt)
          if (byHops !== null) (writer % nodes === reader % nodes ? byHops.sameNode : byHops.acrossNodes).push(now - sentAt)
        }
        seen[writer] = Math.max(seen[writer], seq)
      }
    })
  }
  let sentInWindow = 0
  const periodMs = 1000 / p.perWriterPerSecond
  const writers = clients.slice(0, p.writers).map((w, i) => ({
    i,
    map: w.doc.getMap(MAP) as Y.Map<[number, number]>,
    seq: 0,
    // Staggered, so the 20 writers do not all fire in the same millisecond.
    due: performance.now() + (i * periodMs) / p.writers,
  }))
  // One timer on fixed target times, rather than an interval per writer: an interval re-arms from when
  // its callback ran, so every writer held up by one busy moment comes back in step with the others, and
  // over a run the writers clump into bursts the scenario does not describe.
  let timer: NodeJS.Timeout | null = null
  const fire = (): void => {
    const now = performance.now()
    let next = Infinity
    for (const w of writers) {
      if (w.due <= now) {
        if (now >= windowStart && now < windowEnd) sentInWindow++
        sentTimes[w.i][w.seq] = now
        w.map.set(String(w.i), [w.seq++, now])
        w.due += periodMs
      }
      next = Math.min(next, w.due)
    }
    timer = setTimeout(fire, Math.max(0, next - performance.now()))
  }
  fire()
  await sleep(p.warmupMs)
  const cpus = serverPids.map((pid) => new CpuMeter(pid))
  const rss = serverPids.map((pid) => new RssPeak(pid))
  const bench = benchCpu()
  const machine = machineCpu()
  windowStart = performance.now()
  windowEnd = windowStart + p.measureMs
  await sleep(p.measureMs)
  const serverCpu = cpus.reduce((sum, m) => sum + m.read(), 0)
  const benchCores = bench()
  const otherCpu = Math.max(0, machine() - serverCpu - benchCores)
  if (timer !== null) clearTimeout(timer)
  await sleep(p.drainMs)
  return { latency, byHops, sentInWindow, serverCpu, serverRssPeak: rss.reduce((sum, r) => sum + r.stop(), 0), benchCpu: benchCores, otherCpu }
}

async function openAll(system: System, urls: readonly string[], n: number): Promise<DocClient[]> {
  const clients = await inBatches(
    Array.from({ length: n }, (_, i) => i),
    20,
    async (i) => {
      const c = openDocClient(system, urls[i % urls.length], DOC)
      await withTimeout(whenSynced(c), 30_000, `client ${i} sync`)
      return c
    },
  )
  return clients
}

function rowFrom(system: System, label: string, m: FanoutMeasurement, p: FanoutParams, note = system.persistence): Row {
  const s = m.latency.summary()
  const distribution: Distribution = { label, unit: 'ms', summary: s, cdf: cdfPoints(m.latency.sorted()) }
  const expected = m.sentInWindow * (p.clients - 1)
  return {
    ...okRow(system, {
      median: s.median,
      p99: s.p99,
      max: s.max,
      deliveriesPerSecond: s.count / (p.measureMs / 1000),
      delivered: expected > 0 ? s.count / expected : NaN,
      serverCpu: m.serverCpu,
      serverRss: m.serverRssPeak,
      benchCpu: m.benchCpu,
      otherCpu: m.otherCpu,
    }, note),
    system: label,
    distribution,
  }
}

/** Murmur across a 3-node cluster, clients spread over the nodes (once the cluster exists). */
async function clusterRow(ctx: BenchContext, murmur: System, p: FanoutParams): Promise<Row> {
  const label = 'Murmur, 3-node cluster (SDK)'
  const support = clusterSupport()
  if (!support.available) return statusRow({ label, id: 'murmur-cluster', peer: false }, RowStatus.notYet, support.reason)
  const flags = clusterFlags()
  const ports = [await freePort(), await freePort(), await freePort()]
  const nodes: ServerProcess[] = []
  try {
    for (let i = 0; i < 3; i++) {
      const peers = ports.filter((_, j) => j !== i).map((port) => `ws://127.0.0.1:${port}`)
      const args = ['--data-dir', path.join(ctx.workDir, `fanout-cluster-${i}`), '--storage', 'sqlite', '--node-id', `n${i}`, '--peers', peers.join(',')]
      if (flags.has('cluster-secret')) args.push('--cluster-secret', 'bench')
      nodes.push(await ServerProcess.start({ kind: 'murmur', options: { args } }, ports[i]))
    }
    const clients = await openAll(murmur, nodes.map((n) => n.httpUrl), p.clients)
    try {
      const m = await drive(clients, p, nodes.map((n) => n.pid), nodes.length)
      return { ...rowFrom(murmur, label, m, p, `${murmur.persistence}; ${hopsNote(m)}`), systemId: 'murmur-cluster' }
    } finally {
      await Promise.all(clients.map((c) => c.destroy()))
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch(() => n.kill())))
  }
}

/** Median and p99 of the deliveries within one node and of those that crossed to another. */
function hopsNote(m: FanoutMeasurement): string {
  if (m.byHops === null) return ''
  const fmt = (x: Samples): string => {
    const s = x.summary()
    return `${s.median.toFixed(1)} / ${s.p99.toFixed(1)} ms`
  }
  return `median / p99 when writer and reader share a node ${fmt(m.byHops.sameNode)}, across nodes ${fmt(m.byHops.acrossNodes)}`
}

export const COLUMNS: readonly Column[] = [
  { key: 'median', label: 'median', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'p99', unit: 'ms', better: 'lower' },
  { key: 'max', label: 'max', unit: 'ms', better: 'lower' },
  { key: 'deliveriesPerSecond', label: 'deliveries/s', unit: 'per-s' },
  { key: 'delivered', label: 'delivered', unit: 'percent' },
  { key: 'serverCpu', label: 'server CPU', unit: 'cores' },
  { key: 'serverRss', label: 'server RSS', unit: 'bytes' },
  { key: 'benchCpu', label: 'bench CPU', unit: 'cores' },
  { key: 'otherCpu', label: 'other CPU', unit: 'cores' },
]

export const fanout: Scenario = {
  id: 'fanout',
  title: 'fanout: 1 doc, many clients, a fifth of them writing',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const measured: Row[] = []
    const single = (system: System): Promise<Row> =>
      measureRowQuietly(ctx, system, () =>
        withServer(ctx, 'fanout', system, async (server) => {
          const clients = await openAll(system, [server.httpUrl], p.clients)
          try {
            return rowFrom(system, system.label, await drive(clients, p, [server.pid]), p)
          } finally {
            await Promise.all(clients.map((c) => c.destroy()))
          }
        }),
      )
    for (const system of ctx.systems) {
      ctx.log(`  ${system.label}`)
      measured.push(await single(system))
      if (system.id === SystemId.murmur) {
        const murmur = system
        measured.push(await measureRowQuietly(ctx, system, () => clusterRow(ctx, murmur, p)))
        // The Hocuspocus row's very clients, on Murmur: what a TipTap app gets by changing its URL.
        const viaHocuspocus = murmurHocuspocusSystem()
        ctx.log(`  ${viaHocuspocus.label}`)
        measured.push(await single(viaHocuspocus))
      }
    }
    const { rows, distributions } = splitDistributions(measured)
    const murmurP99 = rows.find((r) => r.systemId === SystemId.murmur && r.status === RowStatus.ok)?.values.p99
    // The target holds for the cluster too: its row, when it ran, must also be at or under the best peer.
    const clusterP99 = rows.find((r) => r.systemId === 'murmur-cluster' && r.status === RowStatus.ok)?.values.p99
    const peerP99s = rows.filter((r) => r.peer && r.status === RowStatus.ok).map((r) => r.values.p99)
    return {
      id: 'fanout',
      title: this.title,
      measures:
        `${p.clients} real clients (each its own socket and Y.Doc) on one doc; ${p.writers} of them set a key of a Y.Map ` +
        `${p.perWriterPerSecond} times a second to [seq, send time]. Every other client records receive time − send time ` +
        `(one clock: all clients run in the bench process). ${p.warmupMs / 1000} s warm-up, then ${p.measureMs / 1000} s measured.`,
      target: "Murmur's p99 ≤ the best peer's p99; also across a 3-node cluster",
      params: p,
      columns: COLUMNS,
      ratioKey: 'p99',
      rows,
      distributions,
      targetMet:
        murmurP99 === undefined || peerP99s.length === 0
          ? null
          : Math.max(murmurP99, clusterP99 ?? murmurP99) <= Math.min(...peerP99s),
      notes: [],
      durationMs: performance.now() - started,
    }
  },
}
