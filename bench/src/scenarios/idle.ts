import * as Y from 'yjs'
import type { ServerProcess } from '../lib/server-process.js'
import { measureRow, okRow, withServer, RowStatus, type Column, type Row, type Scenario } from '../lib/scenario.js'
import type { System } from '../lib/systems.js'
import { inBatches, sleep, withTimeout } from '../lib/timing.js'
import { TEXT } from '../lib/trace-updates.js'
import { openWire, type WireClient } from '../lib/wire.js'
import { loadTrace } from '../traces.js'

interface IdleParams {
  readonly connections: number
  readonly docs: number
  /** Edits of the trace each doc holds (history included, as a real doc would). */
  readonly editsPerDoc: number
  /**
   * How long everything sits idle before each measurement (keep-alives run meanwhile). Long enough for
   * V8 to give back what the burst before it grew: RSS read 3 s after writing 1,000 docs still holds
   * ≈ 45 KB per doc of heap V8 has not returned yet, 20 s after it ≈ 12 KB (the server's memory reducer).
   */
  readonly idleMs: number
}

function params(quick: boolean): IdleParams {
  return quick
    ? { connections: 500, docs: 50, editsPerDoc: 2000, idleMs: 3000 }
    : { connections: 10_000, docs: 1000, editsPerDoc: 2000, idleMs: 20_000 }
}

/** Connections opened at once while connecting thousands. */
const CONNECT_CONCURRENCY = 100

/** The doc every idle doc holds: the first edits of the trace, one transaction each, as one update. */
function seedDoc(edits: number): Uint8Array {
  const trace = loadTrace()
  const doc = new Y.Doc()
  const text = doc.getText(TEXT)
  for (const [pos, del, insert] of trace.patches.slice(0, edits)) {
    doc.transact(() => {
      if (del > 0) text.delete(pos, del)
      if (insert.length > 0) text.insert(pos, insert)
    })
  }
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

async function connect(system: System, server: ServerProcess, docIds: readonly string[], clients: WireClient[]): Promise<void> {
  await inBatches(docIds, CONNECT_CONCURRENCY, async (docId) => {
    const c = openWire(system, server.wsUrl, docId)
    clients.push(c)
    await withTimeout(c.synced, 60_000, `connection to ${docId}`)
  })
}

/** Docs written (and connections closed) before the baseline is read. */
const WARM_UP_DOCS = 20

/**
 * Open one connection per id (into `clients`) and write `seed` through each; resolves once every doc holds
 * it (Murmur: acked, i.e. durable; peers without acks: a late reader has it, then a pause).
 */
async function writeDocs(system: System, server: ServerProcess, ids: readonly string[], seed: Uint8Array, clients: WireClient[], ackWaitMs: number): Promise<void> {
  await connect(system, server, ids, clients)
  for (const c of clients) c.sendUpdate(seed)
  const probe = openWire(system, server.wsUrl, ids[ids.length - 1])
  await withTimeout(probe.synced, 30_000, 'probe')
  probe.close()
  if (system.durableAcks) {
    const deadline = performance.now() + ackWaitMs
    while (clients.some((c) => c.acked < 1) && performance.now() < deadline) await sleep(20)
  } else await sleep(500)
}

async function warmUp(system: System, server: ServerProcess, seed: Uint8Array): Promise<void> {
  const warm: WireClient[] = []
  try {
    await writeDocs(system, server, Array.from({ length: WARM_UP_DOCS }, (_, i) => `warm-${i}`), seed, warm, 30_000)
  } finally {
    for (const c of warm) c.close()
  }
  await sleep(500)
}

/**
 * V8 flags every server of this scenario runs with: a young generation of fixed size, so that memory read
 * at different times differs by what the server holds, not by the nursery V8 sized for the last burst.
 */
const YOUNG_GENERATION = ['--min-semi-space-size=1', '--max-semi-space-size=1']

const COLUMNS: readonly Column[] = [
  { key: 'perConnection', label: 'RSS/connection', unit: 'bytes', better: 'lower' },
  { key: 'heapPerConnection', label: 'heap/connection', unit: 'bytes' },
  { key: 'perDoc', label: 'RSS/loaded doc', unit: 'bytes' },
  { key: 'perDocVsEncoded', label: 'doc ÷ encoded size', unit: 'ratio' },
  { key: 'heapPerDoc', label: 'heap/loaded doc', unit: 'bytes' },
  { key: 'baseline', label: 'baseline RSS', unit: 'bytes' },
  { key: 'total', label: 'RSS at end', unit: 'bytes' },
  { key: 'connectSeconds', label: 'connect all', unit: 's' },
  { key: 'idleCpu', label: 'idle CPU', unit: 'cores' },
]

export const idle: Scenario = {
  id: 'idle',
  title: 'idle: many idle connections over many docs, one node',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const seed = seedDoc(p.editsPerDoc)
    const encoded = seed.length
    const perDoc = p.connections / p.docs
    const rows: Row[] = []
    const notes: string[] = []
    const young: string[] = []
    for (const system of ctx.systems) {
      ctx.log(`  ${system.label}`)
      rows.push(
        await measureRow(ctx, system, () =>
          withServer(ctx, 'idle', system, async (server) => {
            const clients: WireClient[] = []
            try {
              // Warm-up: a few docs written and connections closed before the baseline, so that code the
              // server compiles on first use counts once, not as part of every doc and connection.
              await warmUp(system, server, seed)
              const m0 = await server.memory()
              const connectStart = performance.now()
              // Phase 1: one connection per doc, which writes the doc's content.
              const docIds = Array.from({ length: p.docs }, (_, i) => `idle-${i}`)
              // Every doc holds its content before the others connect.
              await writeDocs(system, server, docIds, seed, clients, 60_000)
              // Loaded docs are measured idle, as the target says: nobody has written for a while.
              await sleep(p.idleMs)
              const m1 = await server.memory()
              // Phase 2: the other connections, spread evenly over the docs.
              const rest: string[] = []
              for (let k = 1; k < perDoc; k++) rest.push(...docIds)
              await connect(system, server, rest, clients)
              const connectSeconds = (performance.now() - connectStart) / 1000
              const short = clients.filter((c, i) => i >= p.docs && c.syncedBytes < encoded * 0.5).length
              if (short > 0) throw new Error(`${short} connections received less than the doc's content`)
              const cpu = server.cpu()
              await sleep(p.idleMs)
              const idleCpu = cpu.read()
              const m2 = await server.memory()
              young.push(`${system.label} ${[m0, m1, m2].map((m) => (m.youngGeneration / 2 ** 20).toFixed(1)).join(' / ')} MB`)
              const others = p.connections - p.docs
              const perConnection = (m2.rss - m1.rss) / others
              const heapPerConnection = (m2.heapUsed - m1.heapUsed) / others
              // The first connection of each doc came with the doc: take a connection's share out.
              const perLoadedDoc = (m1.rss - m0.rss - p.docs * perConnection) / p.docs
              const heapPerDoc = (m1.heapUsed - m0.heapUsed - p.docs * heapPerConnection) / p.docs
              return okRow(system, {
                perConnection,
                heapPerConnection,
                perDoc: perLoadedDoc,
                perDocVsEncoded: perLoadedDoc / encoded,
                heapPerDoc,
                baseline: m0.rss,
                total: m2.rss,
                connectSeconds,
                idleCpu,
              })
            } finally {
              for (const c of clients) c.close()
              await sleep(200)
            }
          }, YOUNG_GENERATION),
        ),
      )
    }
    const murmur = rows.find((r) => r.systemId === 'murmur' && r.status === RowStatus.ok)
    notes.push(
      `each doc: the first ${p.editsPerDoc.toLocaleString('en-US')} edits of the trace, ${encoded.toLocaleString('en-US')} bytes encoded (V1)`,
      'RSS after a full GC in the server; connections are protocol-level clients (no Y.Doc) in the bench process',
      // V8 sizes its young generation by the allocation rate, not by what the server holds; RSS includes it.
      `V8 young generation at the three readings (empty, docs loaded, all connected): ${young.join('; ')}`,
    )
    return {
      id: 'idle',
      title: this.title,
      measures:
        `${p.connections.toLocaleString('en-US')} connections on one node, ${perDoc} per doc over ${p.docs.toLocaleString('en-US')} docs, after a warm-up of ${WARM_UP_DOCS} docs written through connections since closed. ` +
        `RSS (after a full GC in the server) is read empty, after one connection per doc has loaded and written each doc and ${p.idleMs / 1000} s idle, and after all ` +
        `connections are open and ${p.idleMs / 1000} s idle. RSS/connection = growth of the last step ÷ connections it added; ` +
        `RSS/loaded doc = growth of the first step less one connection's share, ÷ docs. Every server runs with V8's young generation ` +
        `held at 1 MB semi-spaces (${YOUNG_GENERATION.join(' ')}): left to itself, V8 sizes it between 1 and 32 MB by the recent allocation rate, ` +
        `not by what the server holds, and its swings between readings would count as tens of MB of connections or docs.`,
      target: 'RSS per connection ≤ 3 KB above baseline; per loaded idle doc ≤ 3× its encoded size',
      params: { ...p, encodedDocBytes: encoded },
      columns: COLUMNS,
      ratioKey: 'perConnection',
      rows,
      distributions: [],
      targetMet: murmur === undefined ? null : murmur.values.perConnection <= 3 * 1024 && murmur.values.perDocVsEncoded <= 3,
      notes,
      durationMs: performance.now() - started,
    }
  },
}
