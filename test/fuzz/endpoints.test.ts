/**
 * Fuzzing every endpoint of a node: /sync, /yjs/<doc>, /automerge, /hocuspocus and the HTTP API, with random bytes,
 * random but well-formed messages, and mutations of valid frames. Afterwards the node must still serve,
 * the reference docs (readable but not writable by the fuzzing token) must be unchanged, and every doc
 * the fuzzers managed to store must still load.
 *
 * Seeded: MURMUR_FUZZ_SEED=<n> replays a run (each lane's inputs are a function of the seed); the seed
 * is printed with any failure. MURMUR_FUZZ_INPUTS scales the run (default 52,000 inputs).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import { Encoder } from 'cbor-x'
import * as encoding from 'lib0/encoding'
import {
  MessageType,
  YSyncMessage,
  asDocId,
  encodeAwarenessEntries,
  encodeMessage,
  encodeYSyncMessage,
  getEngine,
  isEngineName,
  type Message,
} from '@murmur/shared'
import type { InjectOptions } from 'fastify'
import type { MurmurServer } from '../../server/dist/index.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startTestServer, wsUrl } from '../support/servers.js'
import { within } from '../support/wait.js'
import { mulberry32 } from '../cluster/sim/network.js'

const SEED = Number(process.env.MURMUR_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const TOTAL = Number(process.env.MURMUR_FUZZ_INPUTS ?? 52_000)
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/fuzz')

/** Seeded helpers over mulberry32 (the simulation's generator). */
function rng(seed: number) {
  const next = mulberry32(seed)
  const int = (n: number): number => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]
  const bytes = (max: number): Uint8Array => Uint8Array.from({ length: int(max + 1) }, () => int(256))
  const chance = (p: number): boolean => next() < p
  return { next, int, pick, bytes, chance }
}
type Rng = ReturnType<typeof rng>

/** 1–4 random edits of `input`: bit flips, byte sets, inserts, deletes, truncation, duplication, huge varints. */
function mutate(input: Uint8Array, r: Rng, donor?: Uint8Array): Uint8Array {
  let b = Array.from(input)
  const edits = 1 + r.int(4)
  for (let e = 0; e < edits; e++) {
    const at = r.int(b.length + 1)
    switch (r.int(8)) {
      case 0:
        if (b.length > 0) b[at % b.length] ^= 1 << r.int(8)
        break
      case 1:
        if (b.length > 0) b[at % b.length] = r.int(256)
        break
      case 2:
        b.splice(at, 0, ...r.bytes(8))
        break
      case 3:
        b.splice(at, 1 + r.int(8))
        break
      case 4:
        b = b.slice(0, at)
        break
      case 5:
        b.splice(at, 0, ...b.slice(r.int(b.length + 1), r.int(b.length + 1)))
        break
      case 6:
        // A varint that claims a huge length.
        b.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0x0f)
        break
      case 7:
        if (donor !== undefined) b.splice(at, r.int(4), ...donor.subarray(r.int(donor.length + 1)))
        break
    }
  }
  return Uint8Array.from(b)
}

/** Valid engine material to send as is or mutated. */
function material(r: Rng) {
  const yjsUpdates: Uint8Array[] = []
  const stateVectors: Uint8Array[] = []
  for (let d = 0; d < 6; d++) {
    const doc = new Y.Doc()
    doc.clientID = 1 + r.int(2 ** 30)
    doc.on('update', (u: Uint8Array) => yjsUpdates.push(u))
    for (let i = 0; i < 8; i++) {
      const op = r.int(4)
      if (op === 0) doc.getText('t').insert(r.int(doc.getText('t').length + 1), `w${r.int(1000)}`)
      else if (op === 1) doc.getMap('m').set(`k${r.int(5)}`, r.int(100))
      else if (op === 2) doc.getArray('a').push([r.int(100), { x: r.int(9) }])
      else if (doc.getText('t').length > 1) doc.getText('t').delete(0, 1)
    }
    yjsUpdates.push(Y.encodeStateAsUpdate(doc))
    stateVectors.push(Y.encodeStateVector(doc))
  }
  const amSaved: Uint8Array[] = []
  const amSync: Uint8Array[] = []
  for (let d = 0; d < 4; d++) {
    const actor = Array.from({ length: 16 }, () => r.int(256).toString(16).padStart(2, '0')).join('')
    let doc = A.init<Record<string, number>>({ actor })
    for (let i = 0; i < 4; i++) {
      doc = A.change(doc, (x) => {
        x[`k${r.int(5)}`] = r.int(100)
      })
    }
    amSaved.push(A.save(doc))
    const [state1, first] = A.generateSyncMessage(doc, A.initSyncState())
    if (first !== null) amSync.push(first)
    // A sync message that carries changes: as if the peer had said it has nothing.
    const [, peerMsg] = A.generateSyncMessage(A.init(), A.initSyncState())
    if (peerMsg !== null) {
      const [, state2] = A.receiveSyncMessage(doc, state1, peerMsg)
      const [, withChanges] = A.generateSyncMessage(doc, state2)
      if (withChanges !== null) amSync.push(withChanges)
    }
  }
  const awareness = [
    encodeAwarenessEntries([{ clientId: 1 + r.int(1000), clock: r.int(10), state: JSON.stringify({ user: 'fuzz' }) }]),
    encodeAwarenessEntries([{ clientId: 1 + r.int(1000), clock: r.int(10), state: 'null' }]),
  ]
  const ySync = [
    ...yjsUpdates.map((u) => encodeYSyncMessage(YSyncMessage.step2, u)),
    ...yjsUpdates.map((u) => encodeYSyncMessage(YSyncMessage.update, u)),
    ...stateVectors.map((sv) => encodeYSyncMessage(YSyncMessage.step1, sv)),
  ]
  return { yjsUpdates, ySync, amSaved, amSync, awareness, all: [...yjsUpdates, ...ySync, ...amSaved, ...amSync, ...awareness] }
}
type Material = ReturnType<typeof material>

const DOCS = ['fz-0', 'fz-1', 'fz-2', 'fz-3', 'reference']
function docId(r: Rng): string {
  if (r.chance(0.9)) return r.pick(DOCS)
  return r.pick(['', ' spaced ', 'x'.repeat(300), 'ctl\u0001', String.fromCharCode(...r.bytes(12)), `d/${r.int(9)}`, '\uD800'])
}

/** A doc id for a URL: percent-encoded, or raw bytes that are not valid UTF-8 once decoded. */
function urlDocId(r: Rng): string {
  if (r.chance(0.05)) return r.pick(['%FF', '%ED%A0%80', '%', '%zz', '%00', 'a%2Fb'])
  return encodeURIComponent(docId(r).replace(/[\uD800-\uDFFF]/gu, '\uFFFD'))
}

/** An engine payload: valid, mutated, or random. */
function payload(r: Rng, m: Material): Uint8Array {
  const base = r.pick(m.all)
  const roll = r.int(3)
  return roll === 0 ? base : roll === 1 ? mutate(base, r, r.pick(m.all)) : r.bytes(48)
}

/** Frames for /sync after hello. */
function syncFrame(r: Rng, m: Material, validToken: string): Uint8Array {
  if (r.chance(0.15)) return r.bytes(40)
  const ref = 1 + r.int(6)
  const engine = r.chance(0.9) ? r.pick(['yjs', 'automerge']) : r.pick(['', 'crdt', 'YJS'])
  let msg: Message
  switch (r.int(12)) {
    case 0:
    case 1:
      msg = { type: MessageType.open, ref, engine, docId: docId(r) }
      break
    case 2:
      msg = { type: MessageType.close, ref }
      break
    case 3:
    case 4:
      msg = { type: MessageType.sync, ref, payload: engine === 'automerge' && r.chance(0.6) ? r.pick(m.amSync) : payload(r, m) }
      break
    case 5:
    case 6:
      msg = { type: MessageType.update, ref, id: `u${r.int(1e6)}`, replicas: r.int(3), payload: payload(r, m) }
      break
    case 7:
      msg = { type: MessageType.awareness, ref, payload: r.chance(0.5) ? r.pick(m.awareness) : r.bytes(20) }
      break
    case 8:
      msg = { type: MessageType.ping, nonce: r.int(1e6) }
      break
    case 9:
      msg = { type: MessageType.auth, token: r.chance(0.5) ? validToken : String.fromCharCode(...r.bytes(30)) }
      break
    case 10:
      msg = r.pick<Message>([
        { type: MessageType.hello, major: 1, minor: 0, token: validToken, client: 'again' },
        { type: MessageType.welcome, major: 1, minor: 0, nodeId: 'x' },
        { type: MessageType.ack, ref, ids: ['a'] },
        { type: MessageType.error, ref, code: 'X', message: 'y', updateId: '' },
        { type: MessageType.chunk, id: 1, last: r.chance(0.5), data: r.bytes(10) },
        { type: MessageType.pong, nonce: 1 },
      ])
      break
    default:
      return mutate(encodeMessage({ type: MessageType.update, ref, id: 'm', replicas: 0, payload: r.pick(m.all) }), r)
  }
  const frame = encodeMessage(msg)
  return r.chance(0.3) ? mutate(frame, r) : frame
}

/** Frames for /yjs/<doc>. */
function yjsFrame(r: Rng, m: Material): Uint8Array {
  if (r.chance(0.15)) return r.bytes(40)
  const enc = encoding.createEncoder()
  switch (r.int(5)) {
    case 0:
    case 1:
      encoding.writeVarUint(enc, 0)
      encoding.writeUint8Array(enc, r.chance(0.7) ? r.pick(m.ySync) : mutate(r.pick(m.ySync), r))
      break
    case 2:
      encoding.writeVarUint(enc, 1)
      encoding.writeVarUint8Array(enc, r.chance(0.5) ? r.pick(m.awareness) : payload(r, m))
      break
    case 3:
      encoding.writeVarUint(enc, r.pick([2, 3, 4, 99]))
      encoding.writeUint8Array(enc, r.bytes(6))
      break
    default:
      encoding.writeVarUint(enc, 0)
      encoding.writeUint8Array(enc, encodeYSyncMessage(r.pick([0, 1, 2, 3]) as YSyncMessage, payload(r, m)))
  }
  const frame = encoding.toUint8Array(enc)
  return r.chance(0.25) ? mutate(frame, r) : frame
}

/** Frames for /hocuspocus: a document name, then a message; most documents get a token first. */
function hocuspocusFrame(r: Rng, m: Material, validToken: string): Uint8Array {
  if (r.chance(0.15)) return r.bytes(40)
  const enc = encoding.createEncoder()
  encoding.writeVarString(enc, docId(r))
  switch (r.int(8)) {
    case 0:
    case 1:
      encoding.writeVarUint(enc, 2)
      encoding.writeVarUint(enc, r.chance(0.9) ? 0 : r.int(4))
      encoding.writeVarString(enc, r.chance(0.85) ? validToken : r.pick(['', 'bad', String.fromCharCode(...r.bytes(20))]))
      if (r.chance(0.5)) encoding.writeVarString(enc, '4.8.0')
      break
    case 2:
    case 3:
      encoding.writeVarUint(enc, 0)
      encoding.writeUint8Array(enc, r.chance(0.7) ? r.pick(m.ySync) : mutate(r.pick(m.ySync), r))
      break
    case 4:
      encoding.writeVarUint(enc, 1)
      encoding.writeVarUint8Array(enc, r.chance(0.5) ? r.pick(m.awareness) : payload(r, m))
      break
    case 5:
      encoding.writeVarUint(enc, 5)
      encoding.writeVarString(enc, `stateless ${r.int(1000)}`)
      break
    case 6:
      encoding.writeVarUint(enc, r.pick([3, 7]))
      break
    default:
      encoding.writeVarUint(enc, r.pick([4, 6, 8, 9, 10, 99]))
      encoding.writeUint8Array(enc, r.bytes(6))
  }
  const frame = encoding.toUint8Array(enc)
  return r.chance(0.2) ? mutate(frame, r) : frame
}

const cbor = new Encoder({ tagUint8Array: false, useRecords: false })

/** The node never compresses; not offering it saves each of the many reconnects some work. */
const NO_DEFLATE = { perMessageDeflate: false }

/** Frames for /automerge (after a join, most of the time). */
function repoFrame(r: Rng, m: Material): Uint8Array {
  if (r.chance(0.15)) return r.bytes(40)
  const type = r.chance(0.9) ? r.pick(['request', 'sync', 'sync', 'ephemeral', 'join', 'error', 'doc-unavailable', 'remote-heads-changed']) : r.pick(['', 'peer', 'x'])
  const msg: Record<string, unknown> = { type, senderId: r.chance(0.9) ? 'fuzz-peer' : r.int(9), targetId: 'server' }
  if (r.chance(0.9)) msg.documentId = docId(r)
  if (type === 'join') Object.assign(msg, { peerMetadata: r.chance(0.8) ? {} : 'x', supportedProtocolVersions: r.chance(0.8) ? ['1'] : [r.pick(['2', 1, ''])] })
  if (type === 'request' || type === 'sync') msg.data = r.chance(0.6) ? r.pick(m.amSync) : payload(r, m)
  if (type === 'ephemeral') Object.assign(msg, { data: r.bytes(10), count: r.int(5), sessionId: 's' })
  if (r.chance(0.05)) msg.extra = { nested: [r.bytes(4), r.int(9), null] }
  const frame = new Uint8Array(cbor.encode(msg))
  return r.chance(0.25) ? mutate(frame, r) : frame
}

/**
 * One lane of fuzzing over WebSockets: sends `count` frames, each followed by a WebSocket ping whose
 * pong means the server has run the frame's handler; reconnects whenever the server closes.
 */
async function socketLane(
  open: () => WebSocket,
  handshake: (ws: WebSocket) => void,
  frame: () => Uint8Array,
  count: number,
  closes: Map<number, number>,
): Promise<void> {
  let ws: WebSocket | null = null
  let closed: Promise<void> = Promise.resolve()
  const connect = async (): Promise<void> => {
    const socket = open()
    socket.on('error', () => undefined)
    closed = new Promise<void>((resolve) =>
      socket.once('close', (code: number) => {
        closes.set(code, (closes.get(code) ?? 0) + 1)
        resolve()
      }),
    )
    await within(Promise.race([new Promise<void>((resolve) => socket.once('open', () => resolve())), closed]), 10_000, 'a fuzz socket to open')
    if (socket.readyState !== WebSocket.OPEN) return connect()
    handshake(socket)
    ws = socket
  }
  for (let i = 0; i < count; i++) {
    if (ws === null || (ws as WebSocket).readyState !== WebSocket.OPEN) await connect()
    const socket = ws as unknown as WebSocket
    socket.send(frame(), { binary: true })
    const pong = new Promise<void>((resolve) => socket.once('pong', () => resolve()))
    socket.ping()
    await within(Promise.race([pong, closed]), 10_000, `the server to answer input ${i}`)
  }
  ;(ws as WebSocket | null)?.close()
}

async function httpLane(server: MurmurServer, r: Rng, m: Material, count: number, validToken: string, statuses: Map<number, number>, failures: string[]): Promise<void> {
  const engines = ['yjs', 'automerge', 'nope', '']
  for (let i = 0; i < count; i++) {
    const engine = r.chance(0.9) ? r.pick(engines.slice(0, 2)) : r.pick(engines)
    const id = urlDocId(r)
    const auth = r.chance(0.9) ? { authorization: `Bearer ${validToken}` } : r.chance(0.5) ? {} : { authorization: `Bearer ${String.fromCharCode(...r.bytes(20).map((b) => 33 + (b % 90)))}` }
    let req: InjectOptions
    switch (r.int(8)) {
      case 0:
      case 1:
      case 2:
        req = {
          method: 'POST',
          url: `/v1/docs/${engine}/${id}/updates${r.chance(0.1) ? `?replicas=${r.pick(['2', '-1', 'x', '999'])}` : ''}`,
          headers: { ...auth, 'content-type': r.chance(0.9) ? 'application/octet-stream' : r.pick(['application/json', 'text/plain', '']) },
          payload: Buffer.from(payload(r, m)),
        }
        break
      case 3:
        req = { url: `/v1/docs/${engine}/${id}${r.pick(['', '/state', '/history', `/history/${r.pick([0, 1, 2, -1, 1e20, 'x'])}`])}`, headers: auth }
        break
      case 4:
        req = {
          url: `/v1/docs?${r.pick(['', `engine=${engine}`, `limit=${r.pick([0, 1, 5, 1001, -1, 'x'])}`, `after=${encodeURIComponent(String.fromCharCode(...r.bytes(10)))}`, `after=yjs:${id}&limit=2`])}`,
          headers: auth,
        }
        break
      case 5:
        // Deleting the docs the socket fuzzers use would only turn their inputs into refusals.
        req = { method: 'DELETE', url: `/v1/docs/${engine}/${r.chance(0.9) ? `fzdel-${r.int(20)}` : 'reference'}`, headers: auth }
        break
      case 6:
        req = {
          method: r.pick(['POST', 'PUT', 'PATCH']),
          url: `/v1/docs/${engine}/${id}/updates`,
          headers: { ...auth, 'content-type': 'application/json' },
          payload: r.pick(['{', '{"a":', '[]', 'null', JSON.stringify({ deep: Array(50).fill([1]) }), String.fromCharCode(...r.bytes(30))]),
        }
        break
      default:
        req = {
          method: r.pick(['GET', 'POST', 'DELETE', 'OPTIONS', 'HEAD']),
          url: `/${r.pick(['v1', 'v1/docs', 'v1/cluster', 'metrics', 'readyz', 'v2'])}/${encodeURIComponent(String.fromCharCode(...r.bytes(8)))}`,
          headers: auth,
          payload: r.chance(0.5) ? Buffer.from(r.bytes(30)) : undefined,
        }
    }
    const res = await server.http.inject(req)
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    // 500 is MUR_ERR_INTERNAL, a bug; 503/504 are the node's honest answers (e.g. replicas asked of a single node).
    if (res.statusCode === 500) failures.push(`${res.statusCode} ${req.method ?? 'GET'} ${String(req.url)} (${req.payload === undefined ? 'no body' : `${String(req.payload).length} bytes`}): ${res.body.slice(0, 200)}`)
  }
}

describe('fuzz: every endpoint', () => {
  it(`${TOTAL.toLocaleString('en-US')} malformed, random and mutated inputs: no crash, no 5xx, no doc harmed`, { timeout: 360_000 }, async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (err: unknown): void => void unhandled.push(err)
    process.on('unhandledRejection', onUnhandled)
    process.on('uncaughtException', onUnhandled)
    const started = performance.now()
    const cpuStart = process.cpuUsage()
    try {
      const server = await startTestServer({
        authSecret: AUTH_SECRET,
        maxMessagesPerSecond: 0,
        ipConnectionsPerSecond: 0,
        httpRequestsPerMinute: 0,
        maxDocBytes: 1024 * 1024,
      })
      // The fuzzers may write anywhere but the reference docs.
      const fuzzToken = await token({ '*': 'write', 'yjs:reference': 'read', 'automerge:reference': 'read' })
      const seedDoc = new Y.Doc()
      seedDoc.getText('t').insert(0, 'the reference text')
      const yRef = await server.registry.get({ engine: 'yjs', docId: asDocId('reference') })
      await yRef.apply(Y.encodeStateAsUpdate(seedDoc), { from: null })
      const aRef = await server.registry.get({ engine: 'automerge', docId: asDocId('reference') })
      await aRef.apply(A.save(A.from({ title: 'the reference board' })), { from: null })
      const before = { yjs: yRef.doc.version(), automerge: aRef.doc.version() }

      const m = material(rng(SEED))
      const closes = new Map<number, number>()
      const statuses = new Map<number, number>()
      const lanes = Number(process.env.MURMUR_FUZZ_LANES ?? 4)
      const share = {
        sync: Math.floor((TOTAL * 0.3) / lanes),
        yjs: Math.floor((TOTAL * 0.2) / lanes),
        repo: Math.floor((TOTAL * 0.2) / lanes),
        hocuspocus: Math.floor((TOTAL * 0.1) / lanes),
      }
      const httpCount = TOTAL - lanes * (share.sync + share.yjs + share.repo + share.hocuspocus)
      const hello = (ws: WebSocket, r: Rng): void => {
        // Mostly a proper hello; sometimes none, so the pre-handshake paths are fuzzed too.
        if (r.chance(0.95)) ws.send(encodeMessage({ type: MessageType.hello, major: r.chance(0.97) ? 1 : 2, minor: 0, token: r.chance(0.95) ? fuzzToken : '', client: 'fuzz' }))
      }
      const join = (ws: WebSocket, r: Rng): void => {
        if (r.chance(0.95)) ws.send(cbor.encode({ type: 'join', senderId: 'fuzz-peer', peerMetadata: {}, supportedProtocolVersions: ['1'] }))
      }
      const work: Promise<void>[] = []
      for (let lane = 0; lane < lanes; lane++) {
        const rs = rng(SEED + 1 + lane)
        work.push(socketLane(() => new WebSocket(wsUrl(server.url, '/sync'), NO_DEFLATE), (ws) => hello(ws, rs), () => syncFrame(rs, m, fuzzToken), share.sync, closes))
        const ry = rng(SEED + 101 + lane)
        work.push(
          socketLane(
            () => new WebSocket(wsUrl(server.url, `/yjs/${ry.chance(0.95) ? ry.pick(DOCS) : urlDocId(ry)}?token=${ry.chance(0.97) ? fuzzToken : 'bad'}`), NO_DEFLATE),
            () => undefined,
            () => yjsFrame(ry, m),
            share.yjs,
            closes,
          ),
        )
        const ra = rng(SEED + 201 + lane)
        work.push(
          socketLane(() => new WebSocket(`${wsUrl(server.url, '/automerge')}?token=${ra.chance(0.97) ? fuzzToken : 'bad'}`, NO_DEFLATE), (ws) => join(ws, ra), () => repoFrame(ra, m), share.repo, closes),
        )
        const rh = rng(SEED + 401 + lane)
        work.push(socketLane(() => new WebSocket(wsUrl(server.url, '/hocuspocus'), NO_DEFLATE), () => undefined, () => hocuspocusFrame(rh, m, fuzzToken), share.hocuspocus, closes))
      }
      const httpFailures: string[] = []
      work.push(httpLane(server, rng(SEED + 301), m, httpCount, fuzzToken, statuses, httpFailures))
      await Promise.all(work)
      const elapsed = (performance.now() - started) / 1000
      const cpu = process.cpuUsage(cpuStart)
      const cpuSeconds = (cpu.user + cpu.system) / 1e6

      // The node still serves: ready, and a fresh client reads the reference docs as they were.
      expect((await server.http.inject({ url: '/readyz' })).statusCode).toBe(200)
      const yNow = await server.registry.get({ engine: 'yjs', docId: asDocId('reference') })
      const aNow = await server.registry.get({ engine: 'automerge', docId: asDocId('reference') })
      expect({ yjs: yNow.doc.version(), automerge: aNow.doc.version() }).toEqual(before)
      expect(yNow.doc.toJSON()).toEqual({ t: 'the reference text' })
      const fresh = await server.http.inject({ url: '/v1/docs/yjs/reference', headers: { authorization: `Bearer ${fuzzToken}` } })
      expect(fresh.json().content).toEqual({ t: 'the reference text' })

      // Whatever the fuzzers managed to store loads again (no garbage reached storage).
      await server.storage.flush()
      const stored = await server.storage.list()
      for (const key of stored) {
        const doc = await server.storage.load(key)
        expect(doc, `${key.engine}:${key.docId}`).not.toBeNull()
        if (doc === null || !isEngineName(key.engine)) continue
        try {
          getEngine(key.engine).load(doc.snapshot, doc.updates).destroy()
        } catch (err) {
          // Keep what storage holds, so the failure can be studied without replaying the whole run.
          const file = path.join(ARTIFACTS, `fuzz-${SEED}-${key.engine}-${encodeURIComponent(key.docId)}.json`)
          mkdirSync(ARTIFACTS, { recursive: true })
          const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
          writeFileSync(file, JSON.stringify({ key, snapshot: doc.snapshot && hex(doc.snapshot), updates: doc.updates.map(hex) }))
          throw new Error(`${key.engine}:${key.docId} was stored but does not load (${(err as Error).message}); its bytes are in ${file}`)
        }
      }
      const byCode = [...closes.entries()].sort(([a], [b]) => a - b).map(([c, n]) => `${c}×${n}`).join(' ')
      const byStatus = [...statuses.entries()].sort(([a], [b]) => a - b).map(([c, n]) => `${c}×${n}`).join(' ')
      console.log(`fuzz seed ${SEED}: ${TOTAL} inputs in ${elapsed.toFixed(1)} s (${cpuSeconds.toFixed(1)} s of CPU); socket closes ${byCode}; HTTP ${byStatus}; ${stored.length} docs stored and reloaded`)
      expect(httpFailures).toEqual([])
      expect(closes.get(1011) ?? 0).toBe(0)
      expect(unhandled).toEqual([])
    } catch (err) {
      ;(err as Error).message = `[replay with MURMUR_FUZZ_SEED=${SEED}] ${(err as Error).message}`
      throw err
    } finally {
      process.off('unhandledRejection', onUnhandled)
      process.off('uncaughtException', onUnhandled)
    }
  })
})
