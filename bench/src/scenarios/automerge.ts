import { generateAutomergeUrl } from '@automerge/automerge-repo'
import { Automerge, EngineName, automergeEngine, changeAutomerge, type DocId } from '@murmur/shared'
import { openStorage } from '@murmur/server'
import { MurmurClient } from '@murmur/client'
import { AmWire, openMurmurAm, openRepoAm } from '../lib/automerge-clients.js'
import { keystrokeScriptExists, runKeystrokes } from '../lib/keystroke-runner.js'
import { GeneratorPool, clockMs, generatorLoad, withGenerators } from '../lib/generators.js'
import { recordWindow } from '../lib/profiles.js'
import { machineCpu } from '../lib/machine.js'
import { CpuMeter, benchCpu } from '../lib/proc.js'
import { RowStatus, dataDir, measureRowQuietly, okRow, splitDistributions, statusRow, withServer, type BenchContext, type Column, type Distribution, type Row, type Scenario } from '../lib/scenario.js'
import { ServerProcess } from '../lib/server-process.js'
import { Samples, cdfPoints, median } from '../lib/stats.js'
import { allSystems, installedVersion, type System } from '../lib/systems.js'
import { sleep } from '../lib/timing.js'
import { loadTrace } from '../traces.js'

/** One Automerge pairing: which server, which client. */
export interface AmSystem {
  readonly system: System
  readonly wire: AmWire
  /** Path of the client's endpoint on the server. */
  readonly path: string
}

/** Murmur's SDK, automerge-repo clients on Murmur, and automerge-repo's own server. */
export function amSystems(): AmSystem[] {
  const murmur = allSystems().find((s) => s.id === 'murmur')
  if (murmur === undefined) throw new Error('no Murmur system')
  const repoVersion = installedVersion('@automerge/automerge-repo')
  const murmurRepo: System = {
    ...murmur,
    id: 'murmur-automerge-repo' as System['id'],
    label: 'Murmur (automerge-repo client, /automerge)',
    persistence: 'SQLite, fsync (group commit); protocol has no acks',
    durableAcks: false,
  }
  const repo: System = {
    ...murmur,
    id: 'automerge-repo' as System['id'],
    label: `automerge-repo ${repoVersion} (Repo + NodeWS adapter + nodefs storage)`,
    peer: true,
    server: 'automerge-repo',
    persistence: 'automerge-repo-storage-nodefs: files written without fsync, no acks',
    persists: true,
    durableAcks: false,
    versions: {
      '@automerge/automerge-repo': repoVersion,
      '@automerge/automerge-repo-network-websocket': installedVersion('@automerge/automerge-repo-network-websocket'),
      '@automerge/automerge-repo-storage-nodefs': installedVersion('@automerge/automerge-repo-storage-nodefs'),
    },
    launch: (dir) => ({ kind: 'automerge-repo', options: { dataDir: dir } }),
  }
  return [
    { system: murmur, wire: AmWire.murmurSdk, path: '' },
    { system: murmurRepo, wire: AmWire.repo, path: '/automerge' },
    { system: repo, wire: AmWire.repo, path: '' },
  ]
}

interface FanoutParams {
  readonly clients: number
  readonly writers: number
  readonly perWriterPerSecond: number
  readonly warmupMs: number
  readonly measureMs: number
}

function fanoutParams(quick: boolean): FanoutParams {
  return quick
    ? { clients: 6, writers: 2, perWriterPerSecond: 10, warmupMs: 1000, measureMs: 2000 }
    : { clients: 20, writers: 2, perWriterPerSecond: 10, warmupMs: 3000, measureMs: 10_000 }
}

/** Generator processes the clients are spread over (client i in process i % count). */
function generatorCount(quick: boolean): number {
  return quick ? 2 : 4
}

async function fanoutRow(am: AmSystem, server: ServerProcess, p: FanoutParams, quick: boolean): Promise<Row> {
  const pool = await GeneratorPool.start('automerge-gen', generatorCount(quick))
  try {
    const url = am.wire === AmWire.murmurSdk ? server.httpUrl : `${server.wsUrl}${am.path}`
    // Client 0 opens first: on automerge-repo it creates the doc the others then find through the server.
    const first = await pool.askOne(0, 'open', { type: 'am-open', wire: am.wire, url, docId: am.wire === AmWire.murmurSdk ? `am-fanout-${Date.now().toString(36)}` : null, indices: [0], writers: p.writers })
    const docId = first.type === 'am-opened' ? first.docId : ''
    const all = Array.from({ length: p.clients }, (_, i) => i).filter((i) => i > 0)
    await pool.ask('open', (g) => ({ type: 'am-open', wire: am.wire, url, docId, indices: all.filter((i) => i % pool.size === g), writers: p.writers }))
    const t0 = clockMs() + 20
    pool.tell({ type: 'start', t0, keepFrom: t0 + p.warmupMs - 500, writers: p.writers, perWriterPerSecond: p.perWriterPerSecond })
    await sleep(p.warmupMs)
    const cpu = new CpuMeter(server.pid)
    const gens = pool.cpuMeters()
    const bench = benchCpu()
    const machine = machineCpu()
    const windowStart = clockMs()
    await sleep(p.measureMs)
    const windowEnd = clockMs()
    recordWindow(server.profileFile, windowStart, windowEnd)
    const serverCpu = cpu.read()
    const generators = generatorLoad(gens.map((g) => g.read()))
    const otherCpu = Math.max(0, machine() - serverCpu - generators.total - bench())
    pool.tell({ type: 'stop' })
    await sleep(p.warmupMs / 2)
    const reports = await pool.ask('report', () => ({ type: 'report' }))
    const latency = new Samples()
    let sentInWindow = 0
    for (const r of reports) {
      if (r.type !== 'report') continue
      for (const [, times] of r.sent) for (const t of times) if (t >= windowStart && t < windowEnd) sentInWindow++
      for (let k = 0; k < r.arrivals.length; k += 2) {
        const sentAt = r.arrivals[k]
        if (sentAt >= windowStart && sentAt < windowEnd) latency.push(r.arrivals[k + 1] - sentAt)
      }
    }
    const s = latency.summary()
    const distribution: Distribution = { label: am.system.label, unit: 'ms', summary: s, cdf: cdfPoints(latency.sorted()) }
    const expected = sentInWindow * (p.clients - 1)
    const row = withGenerators(
      okRow(am.system, {
        median: s.median,
        p99: s.p99,
        max: s.max,
        delivered: expected > 0 ? s.count / expected : NaN,
        serverCpu,
        genCpuMax: generators.max,
        otherCpu,
      }),
      generators,
    )
    return { ...row, distribution }
  } finally {
    await pool.close()
  }
}

/** The trace as one Automerge text doc, edits batched into changes (building it one change per edit takes minutes). */
function traceDoc(quick: boolean): { snapshot: Uint8Array; length: number; edits: number } {
  const trace = loadTrace()
  const edits = quick ? 10_000 : trace.patches.length
  const doc = automergeEngine.create()
  changeAutomerge<{ text: string }>(doc, (d) => void (d.text = trace.startContent))
  const BATCH = 200
  for (let i = 0; i < edits; i += BATCH) {
    const batch = trace.patches.slice(i, Math.min(edits, i + BATCH))
    changeAutomerge<{ text: string }>(doc, (d) => {
      for (const [pos, del, insert] of batch) Automerge.splice(d, ['text'], pos, del, insert)
    })
  }
  const snapshot = doc.encodeSnapshot()
  const length = (doc.toJSON() as { text: string }).text.length
  doc.destroy()
  return { snapshot, length, edits }
}

const FANOUT_COLUMNS: readonly Column[] = [
  { key: 'median', label: 'median', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'p99', unit: 'ms', better: 'lower' },
  { key: 'max', label: 'max', unit: 'ms' },
  { key: 'delivered', label: 'values seen', unit: 'percent' },
  { key: 'serverCpu', label: 'server CPU', unit: 'cores' },
  { key: 'genCpuMax', label: 'generator CPU (busiest)', unit: 'cores' },
  { key: 'otherCpu', label: 'other CPU', unit: 'cores' },
  { key: 'loadMedian', label: 'coldload (median)', unit: 'ms' },
  { key: 'loadVsRaw', label: 'coldload ÷ raw load', unit: 'ratio' },
]

async function coldloads(ctx: BenchContext, am: AmSystem, doc: { snapshot: Uint8Array; length: number }, loads: number): Promise<number[]> {
  const dir = dataDir(ctx, 'automerge-coldload', am.system)
  const storage = await openStorage('sqlite', dir, { groupCommitMs: 2 })
  const ids: string[] = []
  for (let i = 0; i < loads; i++) {
    // An automerge-repo documentId, so that both the SDK and a Repo can open it.
    const id = generateAutomergeUrl().slice('automerge:'.length)
    await storage.append({ engine: EngineName.automerge, docId: id as DocId }, doc.snapshot)
    ids.push(id)
  }
  await storage.close()
  const server = await ServerProcess.start(am.system.launch(dir))
  try {
    const times: number[] = []
    for (const id of ids) {
      const t0 = performance.now()
      const client = am.wire === AmWire.murmurSdk ? await openMurmurAm(server.httpUrl, id) : (await openRepoAm(`${server.wsUrl}${am.path}`, id)).client
      const text = client.read().text
      const length = typeof text === 'string' ? (text as string).length : 0
      times.push(performance.now() - t0)
      await client.destroy()
      if (length !== doc.length) throw new Error(`cold load gave ${length} characters, expected ${doc.length}`)
    }
    return times
  } finally {
    await server.stop().catch(() => server.kill())
  }
}

export const automerge: Scenario = {
  id: 'automerge',
  title: 'automerge: fanout and coldload with Automerge docs',
  async run(ctx) {
    const started = performance.now()
    const p = fanoutParams(ctx.quick)
    const measured: Row[] = []
    const notes: string[] = []
    const supported = typeof (MurmurClient.prototype as unknown as Record<string, unknown>).automerge === 'function'
    const loads = ctx.quick ? 1 : 2
    const doc = supported ? traceDoc(ctx.quick) : null
    const rawLoads: number[] = []
    if (doc !== null) {
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now()
        Automerge.free(Automerge.load(doc.snapshot))
        rawLoads.push(performance.now() - t0)
      }
      notes.push(
        `coldload doc: ${doc.edits.toLocaleString('en-US')} edits of the trace in changes of 200 edits, ${doc.snapshot.length.toLocaleString('en-US')} bytes saved; ` +
          `raw Automerge.load in the bench process: median ${median(rawLoads).toFixed(0)} ms`,
      )
    }
    for (const am of amSystems()) {
      if (!supported && !am.system.peer) {
        measured.push(statusRow(am.system, RowStatus.notYet, 'not available yet: no Automerge support in this build'))
        continue
      }
      ctx.log(`  ${am.system.label}`)
      const row = await measureRowQuietly(ctx, am.system, () => withServer(ctx, 'automerge', am.system, (server) => fanoutRow(am, server, p, ctx.quick)))
      if (row.status !== RowStatus.ok || doc === null || am.system.peer) {
        // The coldload doc is written through Murmur's storage; the peer's own files hold another format.
        measured.push(row.status === RowStatus.ok && am.system.peer ? { ...row, note: `${row.note}; coldload not run: the doc is stored through Murmur's storage API` } : row)
        continue
      }
      try {
        const times = await coldloads(ctx, am, doc, loads)
        measured.push({ ...row, values: { ...row.values, loadMedian: median(times), loadVsRaw: median(times) / median(rawLoads) } })
      } catch (err) {
        measured.push({ ...row, note: `${row.note}; coldload failed: ${(err as Error).message.slice(0, 120)}` })
      }
    }
    if (keystrokeScriptExists()) {
      const ops = ctx.quick ? 2000 : 10_000
      const keystrokes = ctx.quick ? 30 : 200
      ctx.log(`  server CPU per keystroke on a ${ops.toLocaleString('en-US')}-op doc`)
      try {
        const { lines, header } = await runKeystrokes(['--ops', String(ops), '--keystrokes', String(keystrokes)], ctx.quick ? 60_000 : 90_000)
        if (lines.length === 0) throw new Error('no result lines in its output')
        for (const l of lines) {
          measured.push({ system: `per keystroke: ${l.label}`, systemId: 'murmur-keystroke', peer: false, noRatio: true, status: RowStatus.ok, note: `${ops.toLocaleString('en-US')} ops of history`, values: { median: l.median, p99: l.p99, max: l.max } })
        }
        notes.push(...header.slice(0, 1))
      } catch (err) {
        measured.push({ system: 'per keystroke (automerge-keystroke)', systemId: 'murmur-keystroke', peer: false, status: RowStatus.failed, note: (err as Error).message.slice(0, 160), values: {} })
      }
      notes.push('per keystroke: server CPU for one incoming single-keystroke change (bench/src/automerge-keystroke.ts); the 250k-op run takes minutes: node bench/dist/automerge-keystroke.js')
    }
    const { rows, distributions } = splitDistributions(measured)
    return {
      id: 'automerge',
      title: this.title,
      measures:
        `Fanout as for Yjs with Automerge docs: ${p.clients} real clients on one doc in ${generatorCount(ctx.quick)} generator processes, ${p.writers} writing a number field ${p.perWriterPerSecond} times a second ` +
        `(the send time), ${p.measureMs / 1000} s measured after ${p.warmupMs / 1000} s. Murmur's SDK, unmodified automerge-repo clients on ` +
        `Murmur's /automerge, and automerge-repo's own sync server. Coldload: the trace doc in Murmur's storage, a fresh client per ` +
        `load (${loads} loads) until it holds the whole text, against raw Automerge.load of the same bytes.`,
      target: "p99 ≤ automerge-repo's (automerge-repo clients); SDK cold load ≤ 2× raw Automerge.load",
      params: p,
      columns: FANOUT_COLUMNS,
      ratioKey: 'p99',
      rows,
      distributions,
      targetMet: null,
      notes: [
        ...notes,
        'values seen: a client that falls behind gets several changes in one sync message and sees only the last value of a field, so fewer latencies are recorded; nothing is lost',
        `automerge-repo clients and server run @automerge/automerge ${installedVersion('@automerge/automerge')}; Murmur's engine runs its own pinned copy`],
      durationMs: performance.now() - started,
    }
  },
}
