import { machineCpu } from '../lib/machine.js'
import { CpuMeter, benchCpu } from '../lib/proc.js'
import { measureRowQuietly, okRow, withServer, RowStatus, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { median } from '../lib/stats.js'
import * as Y from 'yjs'
import { Wire, type System } from '../lib/systems.js'
import { sleep, until, withTimeout } from '../lib/timing.js'
import { rawApplyRate } from '../lib/trace-updates.js'
import { openWire } from '../lib/wire.js'
import { recordWindow } from '../lib/profiles.js'
import type { ServerProcess } from '../lib/server-process.js'
import { GeneratorPool, clockMs, generatorLoad, withGenerators, type GeneratorLoad } from '../lib/generators.js'

const DOC = 'ingest'

interface IngestParams {
  readonly readers: number
  /** Processes the readers are spread over. */
  readonly generators: number
  /** Updates sent but not yet complete (received by every reader and, where acks exist, acked). */
  readonly window: number
  readonly warmupMs: number
  readonly measureMs: number
}

function params(quick: boolean): IngestParams {
  return quick ? { readers: 6, generators: 2, window: 1000, warmupMs: 500, measureMs: 1500 } : { readers: 6, generators: 2, window: 2000, warmupMs: 1500, measureMs: 8000 }
}

/** Stop feeding when this much is queued on the writer's socket: the window, not the socket, paces it. */
const MAX_BUFFERED = 4 * 1024 * 1024

/**
 * Per trace update, the writer's clock once it is applied (the trace is one client's edits). Hocuspocus 4
 * merges the updates of a moment into one broadcast, so a reader there counts the trace updates its
 * messages cover, by the writer's clock they reach, not the messages (an update that only deletes is
 * counted with the insert before it).
 */
function traceEndClocks(updates: readonly Uint8Array[]): Float64Array {
  const clocks = new Float64Array(updates.length)
  let clock = 0
  updates.forEach((u, i) => {
    for (const c of Y.parseUpdateMeta(u).to.values()) clock = Math.max(clock, c)
    clocks[i] = clock
  })
  return clocks
}

/** How many trace updates end at or below the writer's clock `clock` (binary search). */
function tracedUpTo(endClocks: Float64Array, clock: number): number {
  let lo = 0
  let hi = endClocks.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (endClocks[mid] <= clock) lo = mid + 1
    else hi = mid
  }
  return lo
}

interface IngestRun {
  readonly rate: number
  readonly windowRates: number[]
  readonly serverCpu: number
  /** The writer (the bench process) first, then each reader process. */
  readonly generators: GeneratorLoad
  readonly otherCpu: number
  readonly sent: number
  readonly lost: number
  readonly exhausted: boolean
}

/**
 * One writer sends the trace's updates in order, as fast as the window allows; `readers` clients receive
 * them. An update is complete once every reader has it and, for a system with durable acks, once the
 * writer has its ack. The rate is completed updates per second over the measuring window.
 */
async function drive(system: System, server: ServerProcess, updates: readonly Uint8Array[], p: IngestParams, endClocks: () => Float64Array): Promise<IngestRun> {
  const pool = await GeneratorPool.start('ingest-gen', p.generators)
  const writer = openWire(system, server.wsUrl, DOC)
  try {
    // Readers in generator processes (reader i in process i % generators); the writer in this one.
    const perGenerator = (g: number): number => Math.floor(p.readers / p.generators) + (g < p.readers % p.generators ? 1 : 0)
    const progress: number[][] = Array.from({ length: p.generators }, (_, g) => new Array<number>(perGenerator(g)).fill(0))
    const byClock = system.wire === Wire.hocuspocus ? endClocks() : null
    let sent = 0
    // Nothing is sent before the writer synced (reports come from the readers' start on).
    let stop = true
    let scheduled = false
    pool.onProgress((g, msg) => {
      progress[g] = byClock === null ? msg.received : msg.clocks.map((c) => tracedUpTo(byClock, c))
      pump()
    })
    await pool.ask('readers', (g) => ({ type: 'readers', systemId: system.id, wsBase: server.wsUrl, docId: DOC, count: perGenerator(g) }))
    await withTimeout(writer.synced, 20_000, 'writer sync')
    const completed = (): number => {
      let min = Infinity
      for (const counts of progress) for (const c of counts) min = Math.min(min, c)
      return system.durableAcks ? Math.min(min, writer.acked) : min
    }
    // Fed on every progress report, and every millisecond for acks and a draining socket: never a busy loop.
    function pump(): void {
      if (stop) return
      const limit = completed() + p.window
      while (sent < updates.length && sent < limit && writer.bufferedAmount < MAX_BUFFERED) writer.sendUpdate(updates[sent++])
      if (sent < updates.length && !scheduled) {
        scheduled = true
        setTimeout(() => {
          scheduled = false
          pump()
        }, 1)
      }
    }
    stop = false
    pump()
    await sleep(p.warmupMs)
    const cpu = new CpuMeter(server.pid)
    const windowStart = clockMs()
    const gens = pool.cpuMeters()
    const bench = benchCpu()
    const machine = machineCpu()
    const startCount = completed()
    const started = performance.now()
    const windowRates: number[] = []
    let last = startCount
    let lastAt = started
    // Sample every 250 ms; stop early when the trace runs out.
    while (performance.now() - started < p.measureMs && sent < updates.length) {
      await sleep(250)
      const now = performance.now()
      const c = completed()
      windowRates.push(((c - last) * 1000) / (now - lastAt))
      last = c
      lastAt = now
    }
    const elapsed = performance.now() - started
    recordWindow(server.profileFile, windowStart, clockMs())
    const endCount = completed()
    const serverCpu = cpu.read()
    const generators = generatorLoad([bench(), ...gens.map((g) => g.read())])
    const otherCpu = Math.max(0, machine() - serverCpu - generators.total)
    const exhausted = sent >= updates.length
    stop = true
    // Everything sent must arrive: a lost update is a bug, not a figure.
    await until(() => completed() >= sent, 30_000, 20)
    return {
      rate: ((endCount - startCount) * 1000) / elapsed,
      windowRates,
      serverCpu,
      generators,
      otherCpu,
      sent,
      lost: sent - completed(),
      exhausted,
    }
  } finally {
    writer.close()
    await pool.close()
  }
}

const COLUMNS: readonly Column[] = [
  { key: 'rate', label: 'updates/s', unit: 'per-s', better: 'higher' },
  { key: 'windowMedian', label: 'median 250 ms window', unit: 'per-s' },
  { key: 'windowMin', label: 'slowest window', unit: 'per-s' },
  { key: 'vsRaw', label: '÷ raw Y.applyUpdate', unit: 'ratio' },
  { key: 'serverCpu', label: 'server CPU', unit: 'cores' },
  { key: 'genCpuMax', label: 'generator CPU (busiest)', unit: 'cores' },
  { key: 'otherCpu', label: 'other CPU', unit: 'cores' },
  { key: 'lost', label: 'lost', unit: 'count' },
]

export const ingest: Scenario = {
  id: 'ingest',
  title: 'ingest: one doc, updates/s applied + persisted + fanned out to 10 clients',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const trace = ctx.traceUpdates()
    const updates = trace.updates
    // Best of three, so a cold JIT does not understate the reference.
    const raw = ctx.quick ? rawApplyRate(updates) : Math.max(rawApplyRate(updates.slice(0, 50_000)), rawApplyRate(updates), rawApplyRate(updates))
    ctx.log(`  raw Y.applyUpdate: ${raw.toFixed(0)} updates/s`)
    const rows: Row[] = []
    const notes: string[] = []
    let clocks: Float64Array | undefined
    for (const system of ctx.systems) {
      ctx.log(`  ${system.label}`)
      rows.push(
        await measureRowQuietly(ctx, system, () =>
          withServer(ctx, 'ingest', system, async (server) => {
            const run = await drive(system, server, updates, p, () => (clocks ??= traceEndClocks(updates)))
            if (run.exhausted) notes.push(`${system.label}: the trace ran out before the measuring window ended; the rate covers a shorter window`)
            const byClock = system.wire === Wire.hocuspocus ? ' (counted by the writer\'s clock their messages reach)' : ''
            const complete = `complete = ${system.durableAcks ? 'acked after fsync and ' : ''}received by all ${p.readers} readers${byClock}`
            const row = withGenerators(okRow(
              system,
              {
                rate: run.rate,
                windowMedian: median(run.windowRates),
                windowMin: Math.min(...run.windowRates),
                vsRaw: run.rate / raw,
                serverCpu: run.serverCpu,
                genCpuMax: run.generators.max,
                otherCpu: run.otherCpu,
                lost: run.lost,
              },
              `${system.persistence}; ${complete}`,
            ), run.generators)
            // Updates that never completed make the rate a count of something else: not a measurement.
            return run.lost > 0 ? { ...row, noRatio: true, invalid: true, note: `${row.note}; INVALID: ${run.lost} of ${run.sent} updates never completed within 30 s` } : row
          }),
        ),
      )
    }
    const murmur = rows.find((r) => r.systemId === 'murmur' && r.status === RowStatus.ok)
    const peers = rows.filter((r) => r.peer && r.status === RowStatus.ok)
    const bestPeer = Math.max(...peers.map((r) => r.values.rate))
    notes.push(
      `raw Y.applyUpdate of the same ${updates.length.toLocaleString('en-US')} updates into one doc in the bench process: ${raw.toFixed(0)} updates/s (${trace.trace}, ${trace.source})`,
      'the peers acknowledge nothing: their rate counts updates applied and broadcast; neither fsyncs (y-leveldb writes through LevelDB without sync, Hocuspocus writes the whole doc to SQLite 2 s after the last change)',
    )
    return {
      id: 'ingest',
      title: this.title,
      measures:
        `One raw-protocol writer sends the ${trace.trace} trace's single-edit Yjs updates in order with at most ${p.window} incomplete; ` +
        `${p.readers} raw-protocol readers, in ${p.generators} generator processes, count what the server broadcasts (generator CPU: the writer's process first). Complete = received by all readers and, where the protocol ` +
        `has durable acks (Murmur /sync), acknowledged. ${p.warmupMs / 1000} s warm-up, then ${p.measureMs / 1000} s measured.`,
      target: "≥ 2× the best peer's updates/s; ratio to raw Y.applyUpdate reported",
      params: { ...p, rawApplyPerSecond: raw, updates: updates.length },
      columns: COLUMNS,
      ratioKey: 'rate',
      rows,
      distributions: [],
      targetMet: murmur === undefined || peers.length === 0 ? null : murmur.values.rate >= 2 * bestPeer,
      notes,
      durationMs: performance.now() - started,
    }
  },
}
