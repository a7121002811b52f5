import type * as Y from 'yjs'
import { openDocClient, whenSynced, type DocClient } from '../lib/doc-clients.js'
import { ServerProcess } from '../lib/server-process.js'
import { RowStatus, dataDir, measureRowQuietly, okRow, splitDistributions, type BenchContext, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { withBenchGenerator } from '../lib/generators.js'
import { machineCpu } from '../lib/machine.js'
import { benchCpu } from '../lib/proc.js'
import { Samples, cdfPoints } from '../lib/stats.js'
import type { System } from '../lib/systems.js'
import { inBatches, until, withTimeout } from '../lib/timing.js'
import { TEXT } from '../lib/trace-updates.js'

interface ReconnectParams {
  readonly clients: number
  readonly docs: number
  /** Upper bound for everyone to be synced again; whoever is not by then is left behind. */
  readonly timeoutMs: number
}

function params(quick: boolean): ReconnectParams {
  return quick ? { clients: 100, docs: 10, timeoutMs: 20_000 } : { clients: 1000, docs: 100, timeoutMs: 60_000 }
}

/** After the restart every client writes its index here; each must then see every marker of its doc. */
const MARKERS = 'markers'

interface Tracked {
  readonly client: DocClient
  readonly doc: number
  /** Times the client lost its sync, and times it regained it, since the restart began. */
  readonly lost: number[]
  readonly synced: number[]
}

/** When the client was synced with the new server: its first regained sync after that one listened. */
function resyncedAt(t: Tracked, listeningAt: number): number {
  return t.synced.find((at) => at >= listeningAt) ?? NaN
}

const COLUMNS: readonly Column[] = [
  { key: 'allSynced', label: 'all synced (from stop)', unit: 'ms', better: 'lower' },
  { key: 'afterListening', label: 'all synced (from listening)', unit: 'ms' },
  { key: 'median', label: 'per client median', unit: 'ms' },
  { key: 'p99', label: 'per client p99', unit: 'ms' },
  { key: 'restart', label: 'server down', unit: 'ms' },
  { key: 'leftBehind', label: 'left behind', unit: 'count' },
  { key: 'benchCpu', label: 'generator CPU (bench process)', unit: 'cores' },
  { key: 'otherCpu', label: 'other CPU', unit: 'cores' },
]

/**
 * Restart the server under `clients` and time the way back: from the stop until every client has lost
 * its sync and regained it, then check that each client's marker reaches every client of its doc.
 */
async function measure(ctx: BenchContext, system: System, first: ServerProcess, p: ReconnectParams, notes: string[]): Promise<{ row: Row; server: ServerProcess }> {
  const tracked: Tracked[] = []
  try {
    await inBatches(
      Array.from({ length: p.clients }, (_, i) => i),
      50,
      async (i) => {
        const client = openDocClient(system, first.httpUrl, `reconnect-${i % p.docs}`)
        const t: Tracked = { client, doc: i % p.docs, lost: [], synced: [] }
        tracked.push(t)
        await withTimeout(whenSynced(client), 60_000, `client ${i} sync`)
        client.onSynced((synced) => (synced ? t.synced : t.lost).push(performance.now()))
      },
    )
    // Each doc gets content before the restart, so a reconnect has something to sync.
    for (let d = 0; d < p.docs; d++) tracked.find((t) => t.doc === d)?.client.doc.getText(TEXT).insert(0, `doc ${d} `.repeat(50))
    await until(() => tracked.every((t) => t.client.synced && t.client.doc.getText(TEXT).length > 0), 30_000, 20)
    await ctx.settle()

    for (const t of tracked) {
      t.lost.length = 0
      t.synced.length = 0
    }
    const bench = benchCpu()
    const machine = machineCpu()
    const stopAt = performance.now()
    const server = await first.restart()
    const serverCpu = server.cpu()
    const listeningAt = performance.now()
    const allBack = await until(() => tracked.every((t) => t.lost.length > 0 && !Number.isNaN(resyncedAt(t, listeningAt))), p.timeoutMs, 10)
    const doneAt = performance.now()
    // The old server's share before the stop is not known here; the new one's and the bench's are.
    const benchCores = bench()
    const otherCpu = Math.max(0, machine() - serverCpu.read() * ((doneAt - listeningAt) / (doneAt - stopAt)) - benchCores)
    const notResynced = tracked.filter((t) => Number.isNaN(resyncedAt(t, listeningAt))).length
    // A client that synced again before the new server listened reached the old one while it stopped.
    const rejoinedStopping = tracked.filter((t) => t.synced.some((at) => at < listeningAt)).length
    if (rejoinedStopping > 0) {
      notes.push(`${system.label}: ${rejoinedStopping} clients reconnected and synced to the stopping server before it exited, then lost it again`)
    }

    // No client left behind: every client's write reaches every client of its doc.
    tracked.forEach((t, i) => (t.client.doc.getMap(MARKERS) as Y.Map<number>).set(String(i), 1))
    const perDoc = p.clients / p.docs
    await until(() => tracked.every((t) => t.client.doc.getMap(MARKERS).size === perDoc), 30_000, 20)
    const missingMarkers = tracked.filter((t) => t.client.doc.getMap(MARKERS).size !== perDoc).length

    const perClient = new Samples()
    for (const t of tracked) {
      const at = resyncedAt(t, listeningAt)
      if (!Number.isNaN(at)) perClient.push(at - stopAt)
    }
    const s = perClient.summary()
    const distribution = { label: system.label, unit: 'ms' as const, summary: s, cdf: cdfPoints(perClient.sorted()) }
    // The clients run in this process: its CPU from the stop until all are back says whether they, not
    // the server, set the pace.
    const row = withBenchGenerator(okRow(
      system,
      {
        allSynced: allBack ? doneAt - stopAt : NaN,
        afterListening: allBack ? doneAt - listeningAt : NaN,
        median: s.median,
        p99: s.p99,
        restart: listeningAt - stopAt,
        leftBehind: Math.max(notResynced, missingMarkers),
        benchCpu: benchCores,
        otherCpu,
      },
      system.persists ? system.persistence : `${system.persistence}; the clients re-send the docs after the restart`,
    ), benchCores)
    return { row: { ...row, distribution }, server }
  } finally {
    await Promise.all(tracked.map((t) => t.client.destroy()))
  }
}

export const reconnect: Scenario = {
  id: 'reconnect',
  title: 'reconnect: many clients on many docs, server restarted',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const measured: Row[] = []
    const notes: string[] = []
    for (const system of ctx.systems) {
      ctx.log(`  ${system.label}`)
      measured.push(
        await measureRowQuietly(ctx, system, async () => {
          await ctx.settle()
          const first = await ServerProcess.start(system.launch(dataDir(ctx, 'reconnect', system)))
          let server = first
          try {
            const result = await measure(ctx, system, first, p, notes)
            server = result.server
            return result.row
          } finally {
            await first.stop().catch(() => first.kill())
            if (server !== first) await server.stop().catch(() => server.kill())
          }
        }),
      )
    }
    const { rows, distributions } = splitDistributions(measured)
    const murmur = rows.find((r) => r.systemId === 'murmur' && r.status === RowStatus.ok)
    return {
      id: 'reconnect',
      title: this.title,
      measures:
        `${p.clients.toLocaleString('en-US')} real clients (own socket and Y.Doc each, default reconnect settings) on ${p.docs} docs, all synced, ` +
        `then the server is stopped gracefully and started again on the same port and data. Per client: time from the stop ` +
        `until it reports synced again. Then every client writes a marker; a client is left behind if it never re-synced or ` +
        `does not see every marker of its doc within 30 s.`,
      target: 'time until all are synced again; no client left behind',
      params: p,
      columns: COLUMNS,
      ratioKey: 'allSynced',
      rows,
      distributions,
      targetMet: murmur === undefined ? null : murmur.values.leftBehind === 0 && Number.isFinite(murmur.values.allSynced),
      notes: [
        // A repeated measurement may note the same thing twice.
        ...new Set(notes),
        "each client library reconnects with its own default backoff (Murmur SDK: 250 ms doubling to 10 s, jittered, held at 250 ms for 5 s after the node closed with 1001, going away; y-websocket: 100 ms doubling to 2.5 s; Hocuspocus: 1 s first delay, then its backoff): the figures include each one's policy",
      ],
      durationMs: performance.now() - started,
    }
  },
}
