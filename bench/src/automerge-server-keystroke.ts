/**
 * Server CPU per incoming keystroke on a long-lived Automerge doc, on the paths a keystroke really takes
 * through a Murmur node. The target is at most 2 ms on a doc with 250k ops of history.
 *
 * The doc is built from an editing trace (one change per keystroke, as an editor makes them), stored in
 * the node's SQLite storage as its snapshot, then another user types into the middle of it, one keystroke
 * at a time (each waits for the previous one to be acknowledged and seen by a second user):
 *
 * 1. In process, at the doc layer: `LiveDoc.apply` of the keystroke's update (validate, apply, fan out a
 *    sync message to the watcher's session, append to the group commit) until durable, and
 *    `LiveDoc.receiveSync` of the watcher's reply. CPU per step from `process.cpuUsage`, with the
 *    compactions the keystrokes trigger counted in the total.
 * 2. End to end, the node in a process of its own (its CPU read from /proc, so no client work is
 *    counted): an SDK writer on `/sync` (update → ack) with an SDK watcher; and an unmodified
 *    automerge-repo Repo writing through `/automerge` (sync messages) with the same SDK watcher.
 *
 *   node bench/dist/automerge-server-keystroke.js [--ops 250000] [--keystrokes 3000] [--e2e-keystrokes 3000]
 *     [--repo-keystrokes 300] [--trace automerge-paper] [--skip-e2e]
 *
 * Result lines read "<label>  cpu ms: median X  p99 Y  max Z | ..." (for the bench's table) or
 * "<label>  cpu ms per keystroke: mean X | ..." for process-level totals, where only the mean exists.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as A3 from '@automerge/automerge'
import { Repo, type AnyDocumentId, type DocHandle } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { Automerge, EngineName, automergeEngine, changeAutomerge, type DocId, type EngineDoc } from '@murmur/shared'
import { openStorage, startServer, type DocSubscriber } from '@murmur/server'
import { MemoryStore, createClient, type AutomergeHandle, type MurmurClient, type WebSocketConstructor } from '@murmur/client'
import { ServerProcess, killAllServers } from './lib/server-process.js'
import { cpuSeconds } from './lib/proc.js'
import { Samples, type Summary } from './lib/stats.js'
import { withTimeout } from './lib/timing.js'
import { loadTrace } from './traces.js'

interface TextDoc {
  text: string
}

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '250000' },
    keystrokes: { type: 'string', default: '3000' },
    'e2e-keystrokes': { type: 'string', default: '3000' },
    'repo-keystrokes': { type: 'string', default: '300' },
    trace: { type: 'string', default: 'automerge-paper' },
    'skip-e2e': { type: 'boolean', default: false },
  },
})
const OPS = Number(values.ops)
const KEYSTROKES = Number(values.keystrokes)
const E2E_KEYSTROKES = Number(values['e2e-keystrokes'])
const REPO_KEYSTROKES = Number(values['repo-keystrokes'])
// An automerge-repo documentId (a bs58check UUID); Murmur uses it as the doc id unchanged.
const DOC_ID = '4NMNnkMhL8jXrdJ9jamS58PAVdXu'

/** The history: trace patches, one change each, until OPS ops (one op per inserted or deleted character). */
function buildHistory(): { snapshot: Uint8Array; ops: number; changes: number; source: string; length: number } {
  const trace = loadTrace(values.trace)
  const doc = automergeEngine.create()
  changeAutomerge<TextDoc>(doc, (d) => {
    d.text = trace.startContent
  })
  let ops = 0
  let changes = 1
  for (let i = 0; i < trace.patches.length && ops < OPS; i++) {
    const [pos, del, insert] = trace.patches[i]
    changeAutomerge<TextDoc>(doc, (d) => Automerge.splice(d, ['text'], pos, del, insert))
    ops += del + [...insert].length
    changes++
  }
  const snapshot = doc.encodeSnapshot()
  const length = (doc.toJSON() as TextDoc).text.length
  doc.destroy()
  return { snapshot, ops, changes, source: `${trace.name} (${trace.source})`, length }
}

/** A keystroke typed into the middle of the text by a second user. */
const WORD = 'keystroke '
function keystroke(doc: EngineDoc, middle: number, i: number): void {
  changeAutomerge<TextDoc>(doc, (d) => Automerge.splice(d, ['text'], middle + i, 0, WORD[i % WORD.length]))
}

const f = (n: number): string => n.toFixed(3)
function distributionLine(label: string, cpu: Summary, wall: Summary): void {
  console.log(`${label.padEnd(52)} cpu ms: median ${f(cpu.median)}  p99 ${f(cpu.p99)}  max ${f(cpu.max)}  mean ${f(cpu.mean)} | wall ms: median ${f(wall.median)}  p99 ${f(wall.p99)}`)
}
function meanLine(label: string, cpuMsPerKeystroke: number, extra: string): void {
  console.log(`${label.padEnd(52)} cpu ms per keystroke: mean ${f(cpuMsPerKeystroke)} | ${extra}`)
}

const cpuNow = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'murmur-am-keystroke-'))
}

/** Put the doc into a node's SQLite storage, as its snapshot. */
async function seedStorage(dir: string, snapshot: Uint8Array): Promise<void> {
  const storage = await openStorage('sqlite', dir)
  const key = { engine: EngineName.automerge, docId: DOC_ID as DocId }
  const seq = await storage.append(key, snapshot)
  await storage.compact(key, snapshot, seq)
  await storage.close()
}

/** 1: the doc layer of a node, in this process. */
async function inProcess(snapshot: Uint8Array, middle: number): Promise<void> {
  const dir = tempDir()
  try {
    await seedStorage(dir, snapshot)
    const server = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', storage: 'sqlite', dataDir: dir, staticDir: null, anonymous: true })
    const key = { engine: EngineName.automerge, docId: DOC_ID as DocId }
    const loadStart = performance.now()
    const quiet: DocSubscriber = { deliverUpdate() {}, deliverAwareness() {}, fail() {} }
    const live = await server.registry.acquire(key, quiet)
    console.log(`  node loads the doc from storage: ${(performance.now() - loadStart).toFixed(0)} ms`)

    // The watcher: a client doc with its own session, and the node's session for it.
    const watcherDoc = automergeEngine.load(snapshot, [])
    const watcherSession = watcherDoc.createSyncSession()
    const nodeSession = live.doc.createSyncSession()
    const toWatcher: Uint8Array[] = []
    const watcher: DocSubscriber = {
      deliverUpdate: (update) => toWatcher.push(...nodeSession.onDocUpdate(update)),
      deliverAwareness() {},
      fail() {},
    }
    await server.registry.acquire(key, watcher)
    // Opening handshake (not timed): both sides start, replies flow until quiet.
    const toNode: Uint8Array[] = [...watcherSession.start()]
    toWatcher.push(...nodeSession.start())
    for (let round = 0; toNode.length + toWatcher.length > 0; round++) {
      if (round > 100) throw new Error('opening sync did not settle')
      for (const m of toWatcher.splice(0)) toNode.push(...watcherSession.receive(m).replies)
      for (const m of toNode.splice(0)) toWatcher.push(...live.receiveSync(nodeSession, m, watcher).replies)
    }

    // Compactions the keystrokes trigger (their CPU is in the whole-run figure).
    const compactions: number[] = []
    const compact = server.storage.compact.bind(server.storage)
    server.storage.compact = (k, bytes, upTo) => {
      compactions.push(updatesSeen)
      return compact(k, bytes, upTo)
    }
    let updatesSeen = 0

    const writer = automergeEngine.load(snapshot, [])
    const updates: Uint8Array[] = []
    writer.onUpdate((u) => updates.push(u))
    const writerSub: DocSubscriber = { deliverUpdate() {}, deliverAwareness() {}, fail() {} }
    await server.registry.acquire(key, writerSub)

    const applyCpu = new Samples()
    const applyWall = new Samples()
    const replyCpu = new Samples()
    const totalCpu = new Samples()
    let clientCpu = 0
    const runStart = cpuNow()
    for (let i = 0; i < KEYSTROKES; i++) {
      const k0 = cpuNow()
      keystroke(writer, middle, i)
      clientCpu += cpuNow() - k0
      const update = updates.shift()!
      const c0 = cpuNow()
      const w0 = performance.now()
      const durable = live.apply(update, { from: writerSub })
      const c1 = cpuNow()
      updatesSeen++
      await durable
      applyWall.push(performance.now() - w0)
      applyCpu.push(c1 - c0)
      // The watcher takes the node's message (client work, not timed) and answers; the node takes the answer.
      let reply = 0
      for (let round = 0; toWatcher.length > 0; round++) {
        if (round > 100) throw new Error('watcher sync did not settle')
        const w1 = cpuNow()
        for (const m of toWatcher.splice(0)) toNode.push(...watcherSession.receive(m).replies)
        clientCpu += cpuNow() - w1
        const r0 = cpuNow()
        for (const m of toNode.splice(0)) toWatcher.push(...live.receiveSync(nodeSession, m, watcher).replies)
        reply += cpuNow() - r0
      }
      replyCpu.push(reply)
      totalCpu.push(c1 - c0 + reply)
    }
    await live.whenDurable()
    const runCpu = cpuNow() - runStart
    if (watcherDoc.version() !== live.doc.version() || writer.version() !== live.doc.version()) throw new Error('node, writer and watcher differ')
    distributionLine('LiveDoc.apply (+ fan-out to 1 watcher, until durable)', applyCpu.summary(), applyWall.summary())
    distributionLine('LiveDoc.receiveSync of the watcher’s reply', replyCpu.summary(), replyCpu.summary())
    distributionLine('node per keystroke (apply + reply)', totalCpu.summary(), applyWall.summary())
    // Everything this process did over the run but the two clients' work: commits and compactions too.
    meanLine('node, whole run (commits and compactions included)', (runCpu - clientCpu) / KEYSTROKES, `run cpu ${runCpu.toFixed(0)} ms, of it clients ${clientCpu.toFixed(0)} ms; compactions after keystrokes ${compactions.join(', ') || 'none'}`)
    await server.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function sdkClient(url: string, store: MemoryStore): MurmurClient {
  return createClient({ url, WebSocket: WebSocket as unknown as WebSocketConstructor, store, crossTab: false })
}

/** An SDK handle whose device already holds the doc (a returning user), synced with the node. */
async function sdkHandle(url: string, snapshot: Uint8Array): Promise<{ client: MurmurClient; handle: AutomergeHandle<TextDoc> }> {
  const store = new MemoryStore()
  await store.compact(`automerge:${DOC_ID}`, snapshot)
  const client = sdkClient(url, store)
  const handle = client.automerge<TextDoc>(DOC_ID)
  await withTimeout(handle.whenSynced(), 120_000, 'the SDK handle to sync')
  return { client, handle }
}

/** Resolve once `check` holds, re-checked on the handle's change events. */
function whenDoc(handle: AutomergeHandle<TextDoc>, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve()
  return new Promise((resolve) => {
    const off = handle.on('change', () => {
      if (check()) {
        off()
        resolve()
      }
    })
  })
}

function whenSaved(handle: AutomergeHandle<TextDoc>): Promise<void> {
  if (handle.unsavedCount === 0) return Promise.resolve()
  return new Promise((resolve) => {
    const off = handle.on('unsaved', (n) => {
      if (n === 0) {
        off()
        resolve()
      }
    })
  })
}

/** 2: the node in its own process; writers and a watcher on real sockets. */
async function endToEnd(snapshot: Uint8Array, middle: number): Promise<void> {
  const dir = tempDir()
  let node: ServerProcess | null = null
  try {
    await seedStorage(dir, snapshot)
    node = await ServerProcess.start({ kind: 'murmur', options: { args: ['--storage', 'sqlite', '--data-dir', dir] } })
    const watcher = await sdkHandle(node.httpUrl, snapshot)
    const textOf = (h: AutomergeHandle<TextDoc>): string => h.doc().text

    // 2a: an SDK writer on /sync: each keystroke is an update, acknowledged once durable.
    const writer = await sdkHandle(node.httpUrl, snapshot)
    let typed = ''
    const ackWall = new Samples()
    const seenWall = new Samples()
    let cpu0 = cpuSeconds(node.pid)
    let t0 = performance.now()
    // The first keystrokes also pay for warming up (JIT, the first sync messages) and the first compaction.
    const warm = Math.min(1000, Math.floor(E2E_KEYSTROKES / 3))
    let cpuWarm = cpu0
    for (let i = 0; i < E2E_KEYSTROKES; i++) {
      if (i === warm) cpuWarm = cpuSeconds(node.pid)
      const start = performance.now()
      writer.handle.change((d) => Automerge.splice(d, ['text'], middle + i, 0, WORD[i % WORD.length]))
      typed += WORD[i % WORD.length]
      await whenSaved(writer.handle)
      ackWall.push(performance.now() - start)
      const expected = typed
      await whenDoc(watcher.handle, () => textOf(watcher.handle).slice(middle, middle + expected.length) === expected)
      seenWall.push(performance.now() - start)
    }
    const cpuEnd = cpuSeconds(node.pid)
    let cpuMs = (cpuEnd - cpu0) * 1000
    const a = ackWall.summary()
    const s = seenWall.summary()
    meanLine('e2e: SDK writer on /sync + SDK watcher', cpuMs / E2E_KEYSTROKES, `ack ms median ${f(a.median)} p99 ${f(a.p99)}; watcher sees it ms median ${f(s.median)} p99 ${f(s.p99)}; ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    meanLine(`e2e: same, keystrokes ${warm}..${E2E_KEYSTROKES}`, ((cpuEnd - cpuWarm) * 1000) / (E2E_KEYSTROKES - warm), 'after the first compaction and warm-up')
    await writer.client.close()

    // 2b: an unmodified automerge-repo Repo writing through /automerge (sync messages, no acks).
    const repo = new Repo({ network: [new WebSocketClientAdapter(`${node.wsUrl}/automerge`, 1000)] })
    const base = textOf(watcher.handle)
    // The Repo's device holds the doc as it was seeded (its own Automerge reads the same bytes); sync
    // brings it the writer's keystrokes.
    repo.import<TextDoc>(snapshot, { docId: DOC_ID as never })
    const handle: DocHandle<TextDoc> = await withTimeout(repo.find<TextDoc>(DOC_ID as AnyDocumentId), 120_000, 'the Repo to find its doc')
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (handle.doc().text === base) {
            handle.off('change', check)
            resolve()
          }
        }
        handle.on('change', check)
        check()
      }),
      120_000,
      'the Repo to catch up',
    )
    const start = middle + E2E_KEYSTROKES
    typed = ''
    const repoSeen = new Samples()
    cpu0 = cpuSeconds(node.pid)
    t0 = performance.now()
    for (let i = 0; i < REPO_KEYSTROKES; i++) {
      const begin = performance.now()
      handle.change((d) => A3.splice(d, ['text'], start + i, 0, WORD[i % WORD.length]))
      typed += WORD[i % WORD.length]
      const expected = typed
      await whenDoc(watcher.handle, () => textOf(watcher.handle).slice(start, start + expected.length) === expected)
      repoSeen.push(performance.now() - begin)
    }
    cpuMs = (cpuSeconds(node.pid) - cpu0) * 1000
    const r = repoSeen.summary()
    meanLine('e2e: automerge-repo writer on /automerge + SDK watcher', cpuMs / REPO_KEYSTROKES, `watcher sees it ms median ${f(r.median)} p99 ${f(r.p99)}; ${((performance.now() - t0) / 1000).toFixed(1)} s; base ${base.length} chars`)
    await repo.shutdown()
    await watcher.client.close()
  } finally {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

process.on('exit', killAllServers)
const built = performance.now()
const { snapshot, ops, changes, source, length } = buildHistory()
console.log(`Automerge 2.2.9 on the node; ${source}: ${ops} ops in ${changes} changes, ${length} chars, snapshot ${(snapshot.length / 1024).toFixed(0)} KiB (built in ${((performance.now() - built) / 1000).toFixed(1)} s)`)
console.log(`Keystrokes typed into the middle by another user (${KEYSTROKES} in process, ${E2E_KEYSTROKES} through the SDK, ${REPO_KEYSTROKES} through automerge-repo); server CPU per keystroke:`)
const middle = Math.floor(length / 2)
await inProcess(snapshot, middle)
if (!values['skip-e2e']) await endToEnd(snapshot, middle)
