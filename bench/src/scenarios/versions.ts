import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { startServer, type MurmurServer } from '@murmur/server'
import { asDocId } from '@murmur/shared'
import { RowStatus, statusRow, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { median } from '../lib/stats.js'

/**
 * The cost of keeping versions: one node ingests the trace's updates through `LiveDoc.apply` (stored,
 * attributed), once with the automatic version policy off and once on (same run, same trace), and the
 * store's bytes on disk afterwards; then the time to open a named version of the whole trace doc.
 */
const COLUMNS: readonly Column[] = [
  { key: 'rate', label: 'ingest updates/s', unit: 'per-s', better: 'higher' },
  { key: 'storeBytes', label: 'store bytes (db + wal)', unit: 'bytes', better: 'lower' },
  { key: 'versions', label: 'automatic versions kept', unit: 'count' },
  { key: 'openMs', label: 'open a version of the trace doc (median)', unit: 'ms', better: 'lower' },
]

/** The aggressive policy measured: a version after 1 ms without an update, at most one per second. */
const POLICY_ON = { autoVersionIdleMs: 1, autoVersionIntervalMs: 1000, autoVersionKeep: 100 }
const POLICY_OFF = { autoVersionIdleMs: 0 }
/** Updates applied between two turns of the event loop (so the policy's timers can run). */
const CHUNK = 200

function bytesUnder(dir: string): number {
  let total = 0
  for (const name of readdirSync(dir)) total += statSync(path.join(dir, name)).size
  return total
}

async function runOnce(dataDir: string, updates: readonly Uint8Array[], policy: object): Promise<Record<string, number>> {
  const server: MurmurServer = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', anonymous: true, storage: 'sqlite', dataDir, ...policy })
  try {
    const key = { engine: 'yjs', docId: asDocId('versions-trace') }
    const live = await server.registry.get(key)
    // A subscriber keeps the doc loaded for the whole run, as an open editor would.
    live.subscribe({ deliverUpdate: () => undefined, deliverAwareness: () => undefined, fail: () => undefined })
    const started = performance.now()
    for (let i = 0; i < updates.length; i += CHUNK) {
      const end = Math.min(updates.length, i + CHUNK)
      const acks: Promise<void>[] = []
      for (let j = i; j < end; j++) acks.push(live.apply(updates[j], { from: null, by: 'bench' }))
      await Promise.all(acks)
    }
    const rate = (updates.length * 1000) / (performance.now() - started)
    const versions = (await server.storage.versions(key)).filter((v) => v.kind === 'auto').length
    const named = await server.versions.create(key, { name: 'trace end', kind: 'named', principal: 'bench' })
    const opens: number[] = []
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      const res = await server.http.inject({ url: `/v1/docs/yjs/versions-trace/versions/${named.id}` })
      if (res.statusCode !== 200) throw new Error(`open a version: HTTP ${res.statusCode}`)
      opens.push(performance.now() - t)
    }
    await server.close()
    return { rate, storeBytes: bytesUnder(dataDir), versions, openMs: median(opens) }
  } catch (err) {
    await server.close().catch(() => undefined)
    const cause = (err as { cause?: unknown }).cause
    throw cause instanceof Error ? new Error(`${(err as Error).message} (${cause.stack?.split('\n').slice(0, 3).join(' ')})`) : err
  }
}

export const versions: Scenario = {
  id: 'versions',
  title: 'versions: the cost of the automatic version policy, and opening a version of the trace doc',
  async run(ctx) {
    const started = performance.now()
    const trace = ctx.traceUpdates()
    const updates = ctx.quick ? trace.updates.slice(0, 20_000) : trace.updates
    const rows: Row[] = []
    // A first pass warms the JIT, so that neither measured pass pays for it.
    await runOnce(path.join(ctx.workDir, 'versions-warmup'), updates.slice(0, 5000), POLICY_OFF)
    for (const [id, label, policy] of [
      ['off', 'Murmur, automatic versions off', POLICY_OFF],
      ['on', 'Murmur, automatic versions on (1 ms pause, ≤ 1/s)', POLICY_ON],
    ] as const) {
      ctx.log(`  ${label}`)
      const dir = path.join(ctx.workDir, `versions-${id}`)
      try {
        await ctx.settle()
        const values = await runOnce(dir, updates, policy)
        rows.push({ system: label, systemId: `murmur-versions-${id}`, peer: false, status: RowStatus.ok, note: 'SQLite, in process', values })
      } catch (err) {
        rows.push(statusRow({ label, id: `murmur-versions-${id}`, peer: false }, RowStatus.failed, (err as Error).message.split('\n')[0].slice(0, 160)))
      }
    }
    return {
      id: 'versions',
      title: this.title,
      measures:
        `One node (SQLite, in process) applies the ${trace.trace} trace's ${updates.length} updates through LiveDoc.apply, ` +
        `${CHUNK} at a time, each stored with its change record (principal, Yjs id ranges); once with automatic versions off ` +
        'and once with an aggressive policy (a version after 1 ms without an update, at most one per second). ' +
        'Store bytes are the data folder after close. Then a named version of the whole trace doc is opened through ' +
        'GET /v1/docs/yjs/:id/versions/:version (decode + JSON), median of 5.',
      target: 'the policy costs little ingest throughput; a version of the trace doc opens in well under a second',
      params: { updates: updates.length, chunk: CHUNK, policyOn: POLICY_ON },
      columns: COLUMNS,
      ratioKey: null,
      rows,
      distributions: [],
      targetMet: null,
      notes: ['a warm-up pass of 5,000 updates runs first and is not reported'],
      durationMs: performance.now() - started,
    }
  },
}
