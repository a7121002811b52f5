import { openDocClient, whenSynced } from '../lib/doc-clients.js'
import { ServerProcess } from '../lib/server-process.js'
import { RowStatus, dataDir, measureRowQuietly, okRow, splitDistributions, statusRow, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { machineCpu } from '../lib/machine.js'
import { benchCpu } from '../lib/proc.js'
import { Samples, cdfPoints, median, summarizeList } from '../lib/stats.js'
import type { System } from '../lib/systems.js'
import { sleep, withTimeout } from '../lib/timing.js'
import { TEXT, rawDecodeMs } from '../lib/trace-updates.js'
import { openWire } from '../lib/wire.js'

interface ColdloadParams {
  /** Copies of the doc stored under different ids; each is opened once, cold, after a restart. */
  readonly loads: number
}

function params(quick: boolean): ColdloadParams {
  return { loads: quick ? 2 : 7 }
}

/** Store `state` under each id through the system's own protocol, so it is stored as that server stores. */
async function store(system: System, server: ServerProcess, ids: readonly string[], state: Uint8Array): Promise<void> {
  for (const id of ids) {
    const w = openWire(system, server.wsUrl, id)
    await withTimeout(w.synced, 30_000, 'writer sync')
    w.sendUpdate(state)
    if (system.durableAcks) {
      const deadline = performance.now() + 30_000
      while (w.acked < 1 && performance.now() < deadline) await sleep(10)
      if (w.acked < 1) throw new Error(`no ack for the stored doc: ${w.lastError ?? 'timeout'}`)
    } else {
      // No ack: a second client that receives the whole doc shows the server has applied it.
      const probe = openWire(system, server.wsUrl, id)
      await withTimeout(probe.synced, 30_000, 'probe sync')
      probe.close()
      if (probe.syncedBytes < state.length * 0.9) throw new Error(`server holds ${probe.syncedBytes} of ${state.length} bytes`)
    }
    w.close()
  }
}

const COLUMNS: readonly Column[] = [
  { key: 'median', label: 'time to content (median)', unit: 'ms', better: 'lower' },
  { key: 'min', label: 'min', unit: 'ms' },
  { key: 'max', label: 'max', unit: 'ms' },
  { key: 'vsDecode', label: '÷ raw decode', unit: 'ratio' },
  { key: 'nearDecode', label: 'raw decode (same time)', unit: 'ms' },
  { key: 'restart', label: 'restart', unit: 'ms' },
  { key: 'otherCpu', label: 'other CPU', unit: 'cores' },
]

export const coldload: Scenario = {
  id: 'coldload',
  title: 'coldload: the full trace doc in storage, a fresh client opens it',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const trace = ctx.traceUpdates()
    const state = trace.finalState
    const decode = rawDecodeMs(state, 15)
    const rawDecode = median(decode)
    ctx.log(`  raw decode of ${state.length} bytes: ${rawDecode.toFixed(1)} ms`)
    const measured: Row[] = []
    const notes: string[] = []
    for (const system of ctx.systems) {
      ctx.log(`  ${system.label}`)
      if (!system.persists) {
        measured.push(statusRow(system, RowStatus.notApplicable, `${system.persistence}: nothing to load after a restart`))
        continue
      }
      measured.push(
        await measureRowQuietly(ctx, system, async () => {
          const ids = Array.from({ length: p.loads }, (_, i) => `cold-${i}`)
          const first = await ServerProcess.start(system.launch(dataDir(ctx, 'coldload', system)))
          let server = first
          try {
            await store(system, first, ids, state)
            await ctx.settle()
            const restartStart = performance.now()
            server = await first.restart()
            const restart = performance.now() - restartStart
            const times = new Samples()
            let syncedEarly = 0
            const serverCpu = server.cpu()
            const bench = benchCpu()
            const machine = machineCpu()
            // A raw decode right before each load as well: the machine's speed drifts over a run (the
            // same decode took 10 ms in one run and 21 ms in another), so each system's loads are compared
            // with decodes made at the same time.
            const nearDecodes: number[] = []
            for (const id of ids) {
              nearDecodes.push(...rawDecodeMs(state, 3))
              const t0 = performance.now()
              const client = openDocClient(system, server.httpUrl, id)
              const text = client.doc.getText(TEXT)
              // Time to the whole content, not to the client's "synced": a server that reports synced
              // before its load from storage finished would otherwise look fast.
              // Checked after each transaction: an 'update' listener would make Yjs encode every change
              // for it, a cost of the measurement, not of the system.
              const complete = new Promise<number>((resolve) => {
                const check = (): void => {
                  if (text.length === trace.finalLength) {
                    client.doc.off('afterTransaction', check)
                    resolve(performance.now() - t0)
                  }
                }
                client.doc.on('afterTransaction', check)
              })
              const synced = whenSynced(client).then(() => ({ at: performance.now() - t0, length: text.length }))
              try {
                const [ms, s] = await withTimeout(Promise.all([complete, synced]), ctx.quick ? 15_000 : 30_000, `cold load of ${id}`).catch((err: unknown) => {
                  throw new Error(`${(err as Error).message} (${text.length} of ${trace.finalLength} characters arrived, synced: ${client.synced})`)
                })
                if (s.length !== trace.finalLength) syncedEarly++
                times.push(ms)
              } finally {
                await client.destroy()
              }
            }
            if (syncedEarly > 0) {
              notes.push(`${system.label}: in ${syncedEarly} of ${ids.length} loads the client reported synced before the stored content had arrived (the server answered the sync from an empty doc while it was still loading)`)
            }
            const otherCpu = Math.max(0, machine() - serverCpu.read() - bench())
            const s = times.summary()
            return {
              ...okRow(system, { median: s.median, min: s.min, max: s.max, vsDecode: s.median / median(nearDecodes), nearDecode: median(nearDecodes), restart, otherCpu }),
              distribution: { label: system.label, unit: 'ms', summary: s, cdf: cdfPoints(times.sorted(), 50) },
            }
          } finally {
            await server.stop().catch(() => server.kill())
          }
        }),
      )
    }
    const { rows } = splitDistributions(measured)
    const murmur = rows.find((r) => r.systemId === 'murmur' && r.status === RowStatus.ok)
    const decodeSummary = summarizeList(decode)
    return {
      id: 'coldload',
      title: this.title,
      measures:
        `The ${trace.trace} trace's final doc (${state.length.toLocaleString('en-US')} bytes encoded, ${trace.finalLength.toLocaleString('en-US')} characters) ` +
        `is written under ${p.loads} ids through each server's protocol, the server restarts (nothing in memory), then a fresh real client ` +
        `opens each id in turn: time from creating the client until the whole content is in its doc (and it reports synced). ÷ raw decode = that median ÷ the median of 3 raw decodes made just before each load. Raw decode = Y.applyUpdate of the ` +
        `same bytes into a fresh Y.Doc in the bench process (median of 15 after a warm-up).`,
      target: 'time to synced (with the content) ≤ 2× the raw decode time of that doc',
      params: { ...p, encodedBytes: state.length, rawDecodeMs: decodeSummary },
      columns: COLUMNS,
      ratioKey: 'median',
      rows,
      distributions: [],
      targetMet: murmur === undefined ? null : murmur.values.vsDecode <= 2,
      notes: [
        // A repeated measurement may note the same thing twice.
        ...new Set(notes),
        `raw decode in the bench process: median ${rawDecode.toFixed(1)} ms (min ${decodeSummary.min.toFixed(1)}, max ${decodeSummary.max.toFixed(1)})`,
        'the first load after a restart also warms the server’s JIT; the median is over all loads',
      ],
      durationMs: performance.now() - started,
    }
  },
}
