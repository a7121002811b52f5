import { mkdirSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { GeneratorPool, clockMs, describeLoad, generatorLoad, type GeneratorLoad } from '../lib/generators.js'
import { placement } from '../lib/placement.js'
import { recordWindow } from '../lib/profiles.js'
import { clusterFlags, clusterSupport } from '../lib/cluster.js'
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
import { REDIS, SystemId, hocuspocusRedisSystem, murmurHocuspocusSystem, type System } from '../lib/systems.js'
import { sleep } from '../lib/timing.js'
import { evaluateTargets, overallMet } from '../lib/targets.js'

const DOC = 'fanout'

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
    : { clients: 100, writers: 10, perWriterPerSecond: 10, warmupMs: 10_000, measureMs: 10_000, drainMs: 1000 }
}

interface FanoutMeasurement {
  readonly latency: Samples
  /** With clients spread over nodes: deliveries whose writer and reader share a node, and the others. */
  readonly byHops: { readonly sameNode: Samples; readonly acrossNodes: Samples } | null
  readonly sentInWindow: number
  readonly serverCpu: number
  readonly serverRssPeak: number
  readonly generators: GeneratorLoad
  /** Cores used by other processes on the machine meanwhile. */
  readonly otherCpu: number
}

/** Generator processes the clients are spread over. */
function generatorCount(quick: boolean): number {
  return quick ? 2 : 4
}

/**
 * Open the clients in generator processes (client i in process i % processes, on node i % urls), drive
 * the writers and pair every arrival with its write's send time. Only writes sent inside the measuring
 * window count; arrivals are awaited for `drainMs` after it.
 */
async function drive(ctx: BenchContext, system: System, urls: readonly string[], p: FanoutParams, servers: readonly ServerProcess[]): Promise<FanoutMeasurement> {
  const serverPids = servers.map((s) => s.pid)
  const pool = await GeneratorPool.start('fanout-gen', generatorCount(ctx.quick))
  try {
    const all = Array.from({ length: p.clients }, (_, i) => i)
    await pool.ask('open', (g) => ({ type: 'open', systemId: system.id, urls, docId: DOC, writers: p.writers, indices: all.filter((i) => i % pool.size === g) }))
    const t0 = clockMs() + 20
    // Arrivals before the window cannot be of writes sent in it; a margin covers the messages' transit.
    pool.tell({ type: 'start', t0, keepFrom: t0 + p.warmupMs - 500, writers: p.writers, perWriterPerSecond: p.perWriterPerSecond })
    await sleep(p.warmupMs)
    const cpus = serverPids.map((pid) => new CpuMeter(pid))
    const rss = serverPids.map((pid) => new RssPeak(pid))
    const gens = pool.cpuMeters()
    const bench = benchCpu()
    const machine = machineCpu()
    const windowStart = clockMs()
    await sleep(p.measureMs)
    const windowEnd = clockMs()
    for (const s of servers) recordWindow(s.profileFile, windowStart, windowEnd)
    const serverCpu = cpus.reduce((sum, m) => sum + m.read(), 0)
    const generators = generatorLoad(gens.map((g) => g.read()))
    const otherCpu = Math.max(0, machine() - serverCpu - generators.total - bench())
    pool.tell({ type: 'stop' })
    await sleep(p.drainMs)
    const reports = await pool.ask('report', () => ({ type: 'report' }))
    const sentTimes: number[][] = Array.from({ length: p.writers }, () => [])
    const nodes = urls.length
    const latency = new Samples()
    const byHops = nodes > 1 ? { sameNode: new Samples(), acrossNodes: new Samples() } : null
    for (const r of reports) if (r.type === 'report') for (const [writer, times] of r.sent) sentTimes[writer] = times
    let sentInWindow = 0
    for (const times of sentTimes) for (const t of times) if (t >= windowStart && t < windowEnd) sentInWindow++
    for (const r of reports) {
      if (r.type !== 'report') continue
      const a = r.arrivals
      for (let k = 0; k < a.length; k += 5) {
        const [reader, writer, from, to, at] = [a[k], a[k + 1], a[k + 2], a[k + 3], a[k + 4]]
        const times = sentTimes[writer]
        for (let seq = from; seq <= to; seq++) {
          const sentAt = times[seq]
          if (!(sentAt >= windowStart && sentAt < windowEnd)) continue
          latency.push(at - sentAt)
          if (byHops !== null) (writer % nodes === reader % nodes ? byHops.sameNode : byHops.acrossNodes).push(at - sentAt)
        }
      }
    }
    return { latency, byHops, sentInWindow, serverCpu, serverRssPeak: rss.reduce((sum, r) => sum + r.stop(), 0), generators, otherCpu }
  } finally {
    await pool.close()
  }
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
      genCpuMax: m.generators.max,
      otherCpu: m.otherCpu,
    }, `${note}; ${describeLoad(m.generators)}`),
    system: label,
    noRatio: m.generators.valid ? undefined : true,
    invalid: m.generators.valid ? undefined : true,
    distribution,
  }
}

/** Three nodes of a cluster, started and stopped together. */
interface ClusterKind {
  readonly id: string
  readonly label: string
  /** The clients' system: which client library, which endpoint. */
  readonly clients: System
  /** Start the nodes; a reason instead when this machine or build cannot run them. */
  start(ctx: BenchContext): Promise<ServerProcess[] | string>
}

const NODES = 3

async function startMurmurCluster(ctx: BenchContext, name: string): Promise<ServerProcess[] | string> {
  const support = clusterSupport()
  if (!support.available) return support.reason
  const flags = clusterFlags()
  const ports = await Promise.all(Array.from({ length: NODES }, () => freePort()))
  const nodes: ServerProcess[] = []
  try {
    for (let i = 0; i < NODES; i++) {
      const peers = ports.filter((_, j) => j !== i).map((port) => `ws://127.0.0.1:${port}`)
      const args = ['--data-dir', path.join(ctx.workDir, `${name}-${i}`), '--storage', 'sqlite', '--node-id', `n${i}`, '--peers', peers.join(',')]
      if (flags.has('cluster-secret')) args.push('--cluster-secret', 'bench')
      nodes.push(await ServerProcess.start({ kind: 'murmur', options: { args }, profileName: `${name}-n${i}` }, ports[i]))
    }
    return nodes
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()))
    throw err
  }
}

function redisReachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(REDIS.port, REDIS.host)
    socket.setTimeout(2000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

async function startHocuspocusRedis(ctx: BenchContext): Promise<ServerProcess[] | string> {
  if (!(await redisReachable())) return `no Redis at ${REDIS.host}:${REDIS.port}`
  // Keys of this run only, so that an earlier run's leftovers cannot join in.
  const prefix = `murmur-bench-${Date.now().toString(36)}`
  const nodes: ServerProcess[] = []
  try {
    for (let i = 0; i < NODES; i++) {
      const dataDir = path.join(ctx.workDir, `fanout-hocuspocus-redis-${i}`)
      mkdirSync(dataDir, { recursive: true })
      nodes.push(await ServerProcess.start({ kind: 'hocuspocus', options: { dataDir, redis: { ...REDIS, identifier: `n${i}`, prefix } } }))
    }
    return nodes
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()))
    throw err
  }
}

/** A system across 3 nodes, clients spread round-robin over the nodes. */
async function clusterRow(ctx: BenchContext, kind: ClusterKind, p: FanoutParams): Promise<Row> {
  await ctx.settle()
  const nodes = await kind.start(ctx)
  if (typeof nodes === 'string') return statusRow({ label: kind.label, id: kind.id, peer: kind.clients.peer }, RowStatus.notApplicable, nodes)
  try {
    const m = await drive(ctx, kind.clients, nodes.map((n) => n.httpUrl), p, nodes)
    return { ...rowFrom(kind.clients, kind.label, m, p, `${kind.clients.persistence}; ${hopsNote(m)}`), systemId: kind.id }
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
  { key: 'genCpuMax', label: 'generator CPU (busiest)', unit: 'cores' },
  { key: 'otherCpu', label: 'other CPU', unit: 'cores' },
]

export const fanout: Scenario = {
  id: 'fanout',
  title: 'fanout: 1 doc, many clients, a tenth of them writing',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const measured: Row[] = []
    const single = (system: System): Promise<Row> =>
      measureRowQuietly(ctx, system, () =>
        withServer(ctx, 'fanout', system, async (server) => rowFrom(system, system.label, await drive(ctx, system, [server.httpUrl], p, [server]), p)),
      )
    const cluster = (kind: ClusterKind): Promise<Row> => {
      ctx.log(`  ${kind.label}`)
      return measureRowQuietly(ctx, kind.clients, () => clusterRow(ctx, kind, p))
    }
    for (const system of ctx.systems) {
      ctx.log(`  ${system.label}`)
      measured.push(await single(system))
      if (system.id === SystemId.murmur) {
        const murmur = system
        measured.push(await cluster({ id: SystemId.murmurCluster, label: `Murmur, ${NODES}-node cluster (SDK, /sync)`, clients: murmur, start: (c) => startMurmurCluster(c, 'fanout-cluster') }))
      }
      if (system.id === SystemId.hocuspocus) {
        // Several servers, like for like: Hocuspocus providers on Murmur's cluster and on Hocuspocus's own.
        measured.push(
          await cluster({
            id: SystemId.murmurClusterHocuspocus,
            label: `Murmur, ${NODES}-node cluster (Hocuspocus provider, /hocuspocus)`,
            clients: murmurHocuspocusSystem(),
            start: (c) => startMurmurCluster(c, 'fanout-cluster-hocuspocus'),
          }),
        )
        const redis = hocuspocusRedisSystem(NODES)
        measured.push(await cluster({ id: redis.id, label: redis.label, clients: redis, start: startHocuspocusRedis }))
      }
    }
    const { rows, distributions } = splitDistributions(measured)
    const verdicts = evaluateTargets('fanout', rows)
    return {
      id: 'fanout',
      title: this.title,
      measures:
        `${p.clients} real clients (each its own socket and Y.Doc) on one doc, spread over ${generatorCount(ctx.quick)} generator processes; ${p.writers} of them set a key of a Y.Map ` +
        `${p.perWriterPerSecond} times a second to [seq, send time]. Every other client records receive time − send time ` +
        `(the machine's monotonic clock, shared by all processes). ${p.warmupMs / 1000} s warm-up, then ${p.measureMs / 1000} s measured.`,
      target: 'per endpoint, like for like (same client library): p99 ≤ the peer\'s; a 3-node cluster p99 ≤ 1.5× one node\'s and ≤ the multi-server peer\'s',
      params: { ...p, generators: generatorCount(ctx.quick), placement: placement().description },
      columns: COLUMNS,
      ratioKey: 'p99',
      rows,
      distributions,
      targetMet: overallMet(verdicts),
      notes: [],
      durationMs: performance.now() - started,
    }
  },
}
