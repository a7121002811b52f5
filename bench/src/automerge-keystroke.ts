/**
 * Server CPU per incoming keystroke on a long-lived Automerge doc.
 *
 * Builds a text doc with 250k ops of history from an editing trace (one change per keystroke, as an editor
 * produces them), loads it the way the server does (from its snapshot), then times 1,000 single-keystroke
 * changes from another actor arriving through `applyUpdate` and through `SyncSession.receive`. The design
 * warns that with some Automerge versions the cost of one incoming change grows with history; the target
 * is at most 2 ms per keystroke. For comparison it also times Automerge's own `receiveSyncMessage`, which
 * the adapter does not call (see shared/src/engine/automerge/sync-state.ts).
 *
 *   node bench/dist/automerge-keystroke.js [--ops 250000] [--keystrokes 1000] [--warmup 200] [--batch 1]
 *                                          [--trace automerge-paper]
 */
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { Automerge, automergeEngine, changeAutomerge, type EngineDoc, type SyncSession } from '@murmur/shared'
import { loadTrace, type Patch } from './traces.js'
import { Samples, type Summary } from './lib/stats.js'

interface TextDoc {
  text: string
}

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '250000' },
    keystrokes: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '200' },
    batch: { type: 'string', default: '1' },
    trace: { type: 'string', default: 'automerge-paper' },
  },
})
const OPS = Number(values.ops)
const KEYSTROKES = Number(values.keystrokes)
/**
 * Keystrokes applied before measuring: the first ones after a load grow the wasm memory by tens of MB,
 * and V8 answers that with full collections; a long-lived doc is past that.
 */
const WARMUP = Number(values.warmup)
const BATCH = Number(values.batch)

function splice(doc: EngineDoc, [pos, del, insert]: Patch): void {
  changeAutomerge<TextDoc>(doc, (d) => Automerge.splice(d, ['text'], pos, del, insert))
}

/** The history: trace patches until OPS ops (one op per inserted or deleted character). */
function buildHistory(): { doc: EngineDoc; ops: number; changes: number; source: string } {
  const trace = loadTrace(values.trace)
  const doc = automergeEngine.create()
  changeAutomerge<TextDoc>(doc, (d) => {
    d.text = trace.startContent
  })
  let ops = 0
  let changes = 1
  for (let i = 0; i < trace.patches.length && ops < OPS; i += BATCH) {
    const batch = trace.patches.slice(i, i + BATCH)
    changeAutomerge<TextDoc>(doc, (d) => {
      for (const [pos, del, insert] of batch) Automerge.splice(d, ['text'], pos, del, insert)
    })
    for (const [, del, insert] of batch) ops += del + [...insert].length
    changes++
  }
  return { doc, ops, changes, source: `${trace.name} (${trace.source})` }
}

/** A second actor typing in the middle of the text, one change per character. */
function keystrokes(doc: EngineDoc, count: number, onEach: (measured: boolean) => void): void {
  const length = (doc.toJSON() as TextDoc).text.length
  let cursor = Math.floor(length / 2)
  const word = 'keystroke '
  for (let i = 0; i < WARMUP + count; i++) {
    splice(doc, [cursor++, 0, word[i % word.length]])
    onEach(i >= WARMUP)
  }
}

function time(fn: () => void): number {
  const start = performance.now()
  fn()
  return performance.now() - start
}

/**
 * Wall time and this process's CPU time of each measured call. CPU time is what the server spends, and
 * holds up when other processes share the machine; wall time also counts being descheduled.
 */
class Timings {
  readonly wall = new Samples()
  readonly cpu = new Samples()
  measure(fn: () => void): void {
    const cpuBefore = process.cpuUsage()
    const started = performance.now()
    fn()
    this.wall.push(performance.now() - started)
    const cpu = process.cpuUsage(cpuBefore)
    this.cpu.push((cpu.user + cpu.system) / 1000)
  }
}

function report(label: string, t: Timings): void {
  const f = (s: Summary): string => `median ${s.median.toFixed(3)}  p99 ${s.p99.toFixed(3)}  max ${s.max.toFixed(1)}`
  console.log(`${label.padEnd(44)} cpu ms: ${f(t.cpu.summary())} | wall ms: ${f(t.wall.summary())}`)
}

/** 1: the update bytes of each keystroke, applied by the server doc. */
function viaApplyUpdate(snapshot: Uint8Array): Timings {
  const server = automergeEngine.load(snapshot, [])
  const client = automergeEngine.load(snapshot, [])
  const updates: Uint8Array[] = []
  client.onUpdate((u) => updates.push(u))
  keystrokes(client, KEYSTROKES, () => {})
  const timings = new Timings()
  updates.forEach((update, i) => {
    const apply = (): void => {
      if (!server.applyUpdate(update, 'client').changed) throw new Error('keystroke did not apply')
    }
    if (i < WARMUP) apply()
    else timings.measure(apply)
  })
  if (server.version() !== client.version()) throw new Error('server and client differ after applyUpdate')
  server.destroy()
  client.destroy()
  return timings
}

/** A server-side session and a peer's session, with a queue each way (in order, as on a socket). */
class Pipe {
  readonly toPeer: Uint8Array[] = []
  readonly toServer: Uint8Array[] = []
  constructor(
    readonly server: SyncSession,
    readonly peer: SyncSession,
  ) {
    this.toPeer.push(...server.start())
    this.toServer.push(...peer.start())
  }
  serverTakes(): void {
    for (const m of this.toServer.splice(0)) this.toPeer.push(...this.server.receive(m, this.server).replies)
  }
  peerTakes(): void {
    for (const m of this.toPeer.splice(0)) this.toServer.push(...this.peer.receive(m, this.peer).replies)
  }
  get idle(): boolean {
    return this.toPeer.length + this.toServer.length === 0
  }
}

/**
 * 2: the same through the sync protocol. The server's time per keystroke is `receive` (which applies the
 * change and builds the reply) plus telling one other connected peer (`onDocUpdate`), as a live doc does.
 * `clientStartsEmpty` makes the client fetch the whole history over sync first, so the server's sync
 * state for it has seen every change.
 */
function viaSyncSession(snapshot: Uint8Array, clientStartsEmpty: boolean): Timings {
  const server = automergeEngine.load(snapshot, [])
  const client = clientStartsEmpty ? automergeEngine.create() : automergeEngine.load(snapshot, [])
  const watcher = automergeEngine.load(snapshot, [])
  const clientPipe = new Pipe(server.createSyncSession(), client.createSyncSession())
  const watcherPipe = new Pipe(server.createSyncSession(), watcher.createSyncSession())
  const pipes = [clientPipe, watcherPipe]
  client.onUpdate((u, origin) => origin !== clientPipe.peer && clientPipe.toServer.push(...clientPipe.peer.onDocUpdate(u)))
  server.onUpdate((u, origin) => {
    for (const pipe of pipes) if (origin !== pipe.server) pipe.toPeer.push(...pipe.server.onDocUpdate(u))
  })
  // Deliver everything both ways until nobody has anything to say (not server time per keystroke).
  const settle = (): void => {
    for (let rounds = 0; !pipes.every((p) => p.idle); rounds++) {
      if (rounds > 1000) throw new Error('sync did not settle')
      for (const pipe of pipes) {
        pipe.peerTakes()
        pipe.serverTakes()
      }
    }
  }
  const initial = time(settle)
  if (clientStartsEmpty) console.log(`  (initial sync of the whole history to the empty client: ${initial.toFixed(0)} ms)`)
  const timings = new Timings()
  keystrokes(client, KEYSTROKES, (measured) => {
    if (measured) timings.measure(() => clientPipe.serverTakes())
    settle()
  })
  if (server.version() !== client.version() || watcher.version() !== server.version()) {
    throw new Error('peers differ after syncing')
  }
  for (const doc of [server, client, watcher]) doc.destroy()
  return timings
}

/** 3: Automerge's own receiveSyncMessage on the same history (what the adapter avoids). */
function viaReceiveSyncMessage(snapshot: Uint8Array): Timings {
  type Doc = Automerge.Doc<TextDoc>
  let server: Doc = Automerge.load(snapshot)
  let client: Doc = Automerge.load(snapshot)
  let serverState = Automerge.initSyncState()
  let clientState = Automerge.initSyncState()
  const exchange = (timed: Timings | null): void => {
    for (let rounds = 0; rounds < 100; rounds++) {
      const [nextClient, toServer] = Automerge.generateSyncMessage(client, clientState)
      clientState = nextClient
      if (toServer !== null) {
        const receive = (): void => {
          ;[server, serverState] = Automerge.receiveSyncMessage(server, serverState, toServer)
        }
        if (timed === null) receive()
        else timed.measure(receive)
        timed = null // only the keystroke's own message is the measured work
      }
      const [nextServer, toClient] = Automerge.generateSyncMessage(server, serverState)
      serverState = nextServer
      if (toClient !== null) [client, clientState] = Automerge.receiveSyncMessage(client, clientState, toClient)
      if (toServer === null && toClient === null) return
    }
  }
  exchange(null)
  const timings = new Timings()
  let cursor = Math.floor(client.text.length / 2)
  for (let i = 0; i < WARMUP + KEYSTROKES; i++) {
    client = Automerge.change(client, (d) => Automerge.splice(d, ['text'], cursor++, 0, 'k'))
    exchange(i < WARMUP ? null : timings)
  }
  Automerge.free(server)
  Automerge.free(client)
  return timings
}

const start = performance.now()
const { doc, ops, changes, source } = buildHistory()
const buildMs = performance.now() - start
let snapshot: Uint8Array = new Uint8Array(0)
const saveMs = time(() => {
  snapshot = doc.encodeSnapshot()
})
doc.destroy()
const loadMs = time(() => automergeEngine.load(snapshot, []).destroy())
console.log(`Automerge 2.2.9, ${source}: ${ops} ops in ${changes} changes (built in ${(buildMs / 1000).toFixed(1)} s)`)
console.log(`snapshot ${(snapshot.length / 1024).toFixed(0)} KiB, save ${saveMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms`)
console.log(`${KEYSTROKES} single-keystroke changes from another actor, server CPU per keystroke:`)
report('applyUpdate', viaApplyUpdate(snapshot))
report('SyncSession.receive (+1 other peer told)', viaSyncSession(snapshot, false))
report('same, client fetched the history over sync', viaSyncSession(snapshot, true))
report("Automerge's receiveSyncMessage (not used)", viaReceiveSyncMessage(snapshot))
