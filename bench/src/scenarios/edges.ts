import type { Socket } from 'node:net'
import { encodeAwarenessEntries } from '@murmur/shared'
import { RowStatus, measureRow, okRow, withServer, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { SystemId } from '../lib/systems.js'
import { Op, drained, frame, rawSocket, tcp, upgradeRequest } from '../lib/raw-ws.js'
import { inBatches, sleep, until } from '../lib/timing.js'

/**
 * Server memory per socket at the edges a client controls: fragment floods, awareness floods and
 * upgrades that never finish. Murmur only: it is the server whose bounds are checked.
 */
interface EdgeParams {
  readonly sockets: number
  readonly maxFrameBytes: number
  readonly upgradeTimeoutMs: number
}

function params(quick: boolean): EdgeParams {
  return quick ? { sockets: 60, maxFrameBytes: 256 * 1024, upgradeTimeoutMs: 3000 } : { sockets: 600, maxFrameBytes: 1024 * 1024, upgradeTimeoutMs: 10_000 }
}

/** Awareness limits of the run (the node's defaults). */
const IDS_PER_SOCKET = 64
const BYTES_PER_SOCKET = 64 * 1024
const IDS_PER_DOC = 1000

const YOUNG_GENERATION = ['--min-semi-space-size=1', '--max-semi-space-size=1']

const COLUMNS: readonly Column[] = [
  { key: 'fragmentHeap', label: 'fragments: heap+ext/socket', unit: 'bytes', better: 'lower' },
  { key: 'fragmentRss', label: 'fragments: RSS/socket', unit: 'bytes' },
  { key: 'awarenessRss', label: 'awareness: RSS/socket', unit: 'bytes' },
  { key: 'awarenessHeap', label: 'awareness: heap+ext/socket', unit: 'bytes' },
  { key: 'joinerBytes', label: 'awareness a joiner gets', unit: 'bytes' },
  { key: 'closedFlooders', label: 'flooders closed (4431)', unit: 'count' },
  { key: 'halfOpenRss', label: 'half-open: RSS/socket', unit: 'bytes' },
  { key: 'halfOpenClosedSeconds', label: 'half-open closed after', unit: 's' },
]

function varUint(n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A y-websocket awareness message (type 1, the update as a var-length byte array). */
function yjsAwarenessFrame(entries: Parameters<typeof encodeAwarenessEntries>[0]): Uint8Array {
  const update = encodeAwarenessEntries(entries)
  return Buffer.concat([Buffer.from([1, ...varUint(update.length)]), update])
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** An unfinished message per socket: empty fragments, tiny ones in a burst, or large ones one per read. */
async function fragmentFlood(socket: Socket, kind: number, maxFrameBytes: number): Promise<void> {
  socket.write(frame(Op.binary, Buffer.alloc(0), false))
  if (kind === 0) {
    socket.write(Buffer.concat(Array.from({ length: 5000 }, () => frame(Op.continuation, Buffer.alloc(0), false))))
  } else if (kind === 1) {
    socket.write(Buffer.concat(Array.from({ length: 1000 }, () => frame(Op.continuation, Buffer.from([1]), false))))
  } else {
    // Up to just under the max frame, in 64 fragments, each on its own turn.
    const piece = Buffer.alloc(Math.floor(maxFrameBytes / 64) - 64, 7)
    for (let k = 0; k < 64; k++) {
      socket.write(frame(Op.continuation, piece, false))
      await nextTurn()
    }
  }
}

export const edges: Scenario = {
  id: 'edges',
  title: 'edges: server memory per socket under fragment and awareness floods and half-open upgrades',
  async run(ctx) {
    const started = performance.now()
    const p = params(ctx.quick)
    const rows: Row[] = []
    const notes: string[] = []
    for (const system of ctx.systems.filter((s) => s.id === SystemId.murmurYjs)) {
      ctx.log(`  ${system.label}`)
      const launch = system.launch('')
      const args = [
        ...((launch.options.args as string[] | undefined) ?? []),
        '--max-frame-bytes', String(p.maxFrameBytes),
        '--upgrade-timeout-ms', String(p.upgradeTimeoutMs),
        '--handshake-timeout-ms', '0',
        '--max-awareness-ids-per-socket', String(IDS_PER_SOCKET),
        '--max-awareness-bytes-per-socket', String(BYTES_PER_SOCKET),
        '--max-awareness-ids-per-doc', String(IDS_PER_DOC),
      ]
      const edgeSystem = { ...system, launch: (dir: string) => ({ ...system.launch(dir), options: { ...system.launch(dir).options, args: [...args, '--data-dir', dir] } }) }
      rows.push(
        await measureRow(ctx, system, () =>
          withServer(ctx, 'edges', edgeSystem, async (server) => {
            const sockets: Socket[] = []
            try {
              // Fragment floods: /sync sockets (no doc loaded), each holding an unfinished message.
              const m0 = await server.memory()
              const flooders = await inBatches(Array.from({ length: p.sockets }, (_, i) => i), 50, () => rawSocket(server.port, '/sync'))
              sockets.push(...flooders)
              await inBatches(flooders, 50, (s, i) => fragmentFlood(s, i % 3, p.maxFrameBytes))
              await inBatches(flooders, 50, (s) => drained(s))
              const m1 = await server.memory()
              ctx.log('    fragment floods measured')

              // Awareness floods: every socket of one doc announces its full quota of ~1 KB states; every
              // tenth tries one more and is closed.
              const doc = '/yjs/edges-awareness'
              const aware = await inBatches(Array.from({ length: p.sockets }, (_, i) => i), 50, () => rawSocket(server.port, doc))
              sockets.push(...aware)
              let closed = 0
              for (const s of aware) s.once('close', () => closed++)
              const state = JSON.stringify({ user: 'x'.repeat(Math.floor(BYTES_PER_SOCKET / IDS_PER_SOCKET) - 40) })
              aware.forEach((s, i) => {
                const count = i % 10 === 0 ? IDS_PER_SOCKET + 1 : IDS_PER_SOCKET
                s.write(frame(Op.binary, yjsAwarenessFrame(Array.from({ length: count }, (_, k) => ({ clientId: i * 1000 + k, clock: 1, state })))))
              })
              await inBatches(aware.filter((_, i) => i % 10 !== 0), 50, (s) => drained(s))
              // Only flooders that pass their quota while the doc has room are closed: once the doc holds
              // its maximum, further ids are dropped without costing anything.
              await sleep(500)
              const closedFlooders = closed
              const m2 = await server.memory()
              ctx.log(`    awareness floods measured (${closedFlooders} closed)`)
              const joiner = await rawSocket(server.port, doc)
              let joinerBytes = 0
              joiner.on('data', (chunk: Buffer) => (joinerBytes += chunk.length))
              // The doc's presence reaches a joiner once its connection is set up.
              await sleep(1000)
              await drained(joiner)
              joiner.destroy()

              // Half-open upgrades: half the headers of an upgrade, then nothing.
              for (const s of sockets) s.destroy()
              sockets.length = 0
              await sleep(500)
              ctx.log(`    a joiner got ${joinerBytes} bytes`)
              const m3 = await server.memory()
              const halfStart = performance.now()
              const half = await inBatches(Array.from({ length: p.sockets }, (_, i) => i), 100, () => tcp(server.port))
              let halfClosed = 0
              for (const s of half) {
                s.resume()
                s.once('close', () => halfClosed++)
                s.write(upgradeRequest(doc).slice(0, 60))
              }
              await sleep(Math.min(1000, p.upgradeTimeoutMs / 3))
              const m4 = await server.memory()
              await until(() => halfClosed === half.length, p.upgradeTimeoutMs * 3, 50)
              const halfOpenClosedSeconds = halfClosed === half.length ? (performance.now() - halfStart) / 1000 : NaN
              for (const s of half) s.destroy()

              const n = p.sockets
              const fragmentOpen = n
              const awareOpen = n - closedFlooders
              return okRow(system, {
                fragmentRss: (m1.rss - m0.rss) / fragmentOpen,
                fragmentHeap: (m1.heapUsed + m1.external - m0.heapUsed - m0.external) / fragmentOpen,
                awarenessRss: (m2.rss - m1.rss) / awareOpen,
                awarenessHeap: (m2.heapUsed + m2.external - m1.heapUsed - m1.external) / awareOpen,
                joinerBytes,
                closedFlooders,
                halfOpenRss: (m4.rss - m3.rss) / n,
                halfOpenClosedSeconds,
              })
            } finally {
              for (const s of sockets) s.destroy()
            }
          }, YOUNG_GENERATION),
        ),
      )
    }
    const murmur = rows.find((r) => r.status === RowStatus.ok)
    const budget = p.maxFrameBytes + 64 * 1024
    notes.push(
      `--max-frame-bytes ${p.maxFrameBytes}; budget per socket = max frame + 64 KiB = ${budget} bytes`,
      'fragment floods: a third of the sockets send 5,000 empty fragments, a third 1,000 one-byte fragments in one burst, a third 64 fragments of nearly max frame ÷ 64 each on its own turn; none finishes its message',
      `awareness floods: every socket of one doc announces ${IDS_PER_SOCKET} states of ≈ ${Math.floor(BYTES_PER_SOCKET / IDS_PER_SOCKET)} bytes; every tenth one more (closed with 4431 while the doc has room; once it is full further ids are dropped); the doc keeps at most ${IDS_PER_DOC}`,
      'memory is read in the server after a full GC; the young generation is held at 1 MB semi-spaces',
      'RSS also keeps the allocator pages of what was relayed meanwhile (every awareness flood is sent on to every socket of the doc), which the process reuses; heap + external is what the sockets hold',
    )
    return {
      id: 'edges',
      title: this.title,
      measures:
        `${p.sockets} raw sockets per phase against one node. RSS and heap+external growth per socket while every socket holds an unfinished fragmented message; ` +
        `then while every socket of one doc holds its presence quota; then while TCP connections sit on half an upgrade request, and how long until --upgrade-timeout-ms (${p.upgradeTimeoutMs} ms) closed them all.`,
      target: `server memory held per socket (heap + external after a full GC) ≤ max frame + 64 KiB (${budget} bytes) in every phase; half-open upgrades closed within seconds`,
      params: { ...p, idsPerSocket: IDS_PER_SOCKET, bytesPerSocket: BYTES_PER_SOCKET, idsPerDoc: IDS_PER_DOC },
      columns: COLUMNS,
      ratioKey: 'fragmentHeap',
      rows,
      distributions: [],
      targetMet:
        murmur === undefined
          ? null
          : Math.max(murmur.values.fragmentHeap, murmur.values.awarenessHeap, murmur.values.halfOpenRss) <= budget &&
            murmur.values.halfOpenClosedSeconds <= (p.upgradeTimeoutMs * 2) / 1000 + 2,
      notes,
      durationMs: performance.now() - started,
    }
  },
}
