/**
 * Limits and backpressure: each breach gets its code, and the server stays up with the doc unharmed.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import { Encoder, decode } from 'cbor-x'
import { MessageType, YSyncMessage, asDocId, decodeMessage, encodeMessage, encodeYSyncMessage, type Message } from '@murmur/shared'
import type { MurmurServer } from '../../server/dist/index.js'
import { startTestServer, tempDir, wsUrl } from '../support/servers.js'
import { within } from '../support/wait.js'

function rawSync(url: string) {
  const ws = new WebSocket(wsUrl(url, '/sync'))
  ws.on('error', () => undefined)
  onTestFinished(() => ws.terminate())
  const received: Message[] = []
  const listeners = new Set<() => void>()
  ws.on('message', (data: Buffer) => {
    received.push(decodeMessage(new Uint8Array(data)))
    for (const l of listeners) l()
  })
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const send = (m: Message): void => ws.send(encodeMessage(m))
  const next = (pred: (m: Message) => boolean, what: string, ms = 10_000): Promise<Message> =>
    within(
      new Promise<Message>((resolve) => {
        const check = (): void => {
          const m = received.find(pred)
          if (m !== undefined) resolve(m)
        }
        listeners.add(check)
        check()
      }),
      ms,
      what,
    )
  const start = async (): Promise<void> => {
    await opened
    send({ type: MessageType.hello, major: 1, minor: 0, token: '', client: 'limits' })
    await next((m) => m.type === MessageType.welcome, 'welcome')
  }
  return { ws, received, opened, closed, send, next, start }
}

/** A Yjs update that sets `key` to a string of `bytes` characters (overwriting keeps the doc small). */
function bigSet(bytes: number, key = 'blob', seed = 0): Uint8Array {
  const d = new Y.Doc()
  d.clientID = 1000 + seed
  d.getMap('m').set(key, String.fromCharCode(97 + (seed % 26)).repeat(bytes))
  return Y.encodeStateAsUpdate(d)
}

async function version(server: MurmurServer, engine: 'yjs' | 'automerge', docId: string): Promise<string> {
  return (await server.registry.get({ engine, docId: asDocId(docId) })).doc.version()
}

/** A node in its own process, started with --expose-gc, that reports its memory after a full GC. */
async function measuredNode(config: Record<string, unknown>): Promise<{ url: string; retained(): Promise<{ heapUsed: number; external: number; rss: number }> }> {
  const child = spawn(process.execPath, ['--expose-gc', path.join(import.meta.dirname, '../support/gc-node.mjs'), JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  onTestFinished(() => {
    child.kill('SIGKILL')
  })
  const lines: string[] = []
  const waiters: ((line: string) => void)[] = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiters.shift()
    if (w !== undefined) w(line)
    else lines.push(line)
  })
  const nextLine = (): Promise<string> => within(new Promise<string>((resolve) => (lines.length > 0 ? resolve(lines.shift() as string) : waiters.push(resolve))), 30_000, 'a line from the node')
  const url = /listening on (\S+)/u.exec(await nextLine())?.[1] ?? ''
  return {
    url,
    async retained() {
      child.stdin.write('gc\n')
      return JSON.parse(await nextLine()) as { heapUsed: number; external: number; rss: number }
    },
  }
}

describe('slow consumers', () => {
  it('a client that never reads is disconnected with 4408, and the server’s memory stays bounded', async () => {
    const maxBuffered = 2 * 1024 * 1024
    const node = await measuredNode({ storage: 'sqlite', dataDir: tempDir(), maxBufferedBytes: maxBuffered })
    const live = async (): Promise<number> => {
      const m = await node.retained()
      return m.heapUsed + m.external
    }

    // The reader opens the doc, then stops reading: its TCP socket is paused.
    const reader = rawSync(node.url)
    await reader.start()
    reader.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'hot' })
    await reader.next((m) => m.type === MessageType.sync && m.ref === 1, 'the doc open')
    reader.ws.pause()

    const writer = rawSync(node.url)
    await writer.start()
    writer.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'hot' })
    await writer.next((m) => m.type === MessageType.sync && m.ref === 1, 'the doc open')
    const baseline = await live()

    // 62 MB of updates for the reader, in 32 KB overwrites (the doc itself stays small).
    const chunk = 32 * 1024
    const total = 2000
    let acked = 0
    writer.ws.on('message', (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data))
      if (m.type === MessageType.ack) acked += m.ids.length
    })
    let peak = baseline
    let resumed = false
    /** Sample what the server holds after a GC; once it has dropped the reader, let the reader read what is left. */
    const sample = async (): Promise<void> => {
      peak = Math.max(peak, await live())
      if (!resumed && /MUR_ERR_SLOW_CONSUMER/u.test(await (await fetch(`${node.url}/metrics`)).text())) {
        resumed = true
        // Within the server's 5 s closing handshake, so the close frame behind the backlog still arrives.
        reader.ws.resume()
      }
    }
    const window = 64
    for (let i = 0; i < total; i++) {
      writer.send({ type: MessageType.update, ref: 1, id: `u${i}`, replicas: 0, payload: bigSet(chunk, 'blob', i) })
      if (i - acked >= window) {
        const target = i - window / 2
        await within(
          new Promise<void>((resolve) => {
            const check = (): void => {
              if (acked >= target) {
                writer.ws.off('message', check)
                resolve()
              }
            }
            writer.ws.on('message', check)
            check()
          }),
          30_000,
          'acks',
        )
      }
      if (i % 100 === 0) await sample()
    }
    await writer.next((m) => m.type === MessageType.ack && m.ids.includes(`u${total - 1}`), 'the last ack', 30_000)
    await sample()
    expect(resumed).toBe(true)
    const closed = await within(reader.closed, 20_000, 'the reader to see its close')
    expect(closed.code).toBe(4408)
    expect(closed.reason).toContain('MUR_ERR_SLOW_CONSUMER')

    const grew = peak - baseline
    console.log(
      `slow consumer: ${(total * chunk) / 2 ** 20} MB sent to a reader that stopped reading; the server's live memory (heap + external, after GC) grew ${(grew / 2 ** 20).toFixed(1)} MB at most`,
    )
    // Held in full, the reader's backlog alone would be ~90 MB; bounded, it is --max-buffered-bytes and change.
    expect(grew).toBeLessThan(4 * maxBuffered + 8 * 2 ** 20)
    // The writer was served throughout and the node is still up.
    expect(acked).toBeGreaterThanOrEqual(total)
    expect((await fetch(`${node.url}/readyz`)).status).toBe(200)
  })
})

describe('max doc size', () => {
  const limit = 64 * 1024

  it('refuses a write that would take a doc past --max-doc-bytes on every write path; reads go on', async () => {
    const server = await startTestServer({ maxDocBytes: limit })
    const live = await server.registry.get({ engine: 'yjs', docId: asDocId('capped') })
    await live.apply(bigSet(40 * 1024, 'base'), { from: null })
    const before = await version(server, 'yjs', 'capped')
    const tooMuch = bigSet(40 * 1024, 'more', 1)

    // /sync: an update, and SyncStep2 and sync-update messages, each refused for the doc, with the code.
    const s = rawSync(server.url)
    await s.start()
    s.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'capped' })
    s.send({ type: MessageType.update, ref: 1, id: 'big', replicas: 0, payload: tooMuch })
    const err = (await s.next((m) => m.type === MessageType.error && m.updateId === 'big', 'the refusal')) as Extract<Message, { type: 9 }>
    expect(err.code).toBe('MUR_ERR_DOC_TOO_LARGE')
    for (const type of [YSyncMessage.step2, YSyncMessage.update]) {
      const count = s.received.filter((m) => m.type === MessageType.error).length
      s.send({ type: MessageType.sync, ref: 1, payload: encodeYSyncMessage(type, tooMuch) })
      await s.next((m) => m.type === MessageType.error && s.received.filter((x) => x.type === MessageType.error).length > count, 'the refusal')
      expect(s.received.filter((m) => m.type === MessageType.error).at(-1)).toMatchObject({ code: 'MUR_ERR_DOC_TOO_LARGE' })
    }
    // Reading a doc at its limit still works.
    s.send({ type: MessageType.sync, ref: 1, payload: encodeYSyncMessage(YSyncMessage.step1, Y.encodeStateVector(new Y.Doc())) })
    await s.next((m) => m.type === MessageType.sync && m.payload[0] === YSyncMessage.step2, 'the content')

    // /yjs: closed with 4413.
    const y = new WebSocket(wsUrl(server.url, '/yjs/capped'))
    y.on('error', () => undefined)
    onTestFinished(() => y.terminate())
    await new Promise<void>((resolve) => y.once('message', () => resolve()))
    y.send(new Uint8Array([0, ...encodeYSyncMessage(YSyncMessage.update, tooMuch)]))
    const closed = await within(new Promise<{ code: number; reason: string }>((resolve) => y.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))), 10_000, 'close')
    expect(closed.code).toBe(4413)
    expect(closed.reason).toContain('MUR_ERR_DOC_TOO_LARGE')

    // HTTP: 413.
    const res = await server.http.inject({ method: 'POST', url: '/v1/docs/yjs/capped/updates', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from(tooMuch) })
    expect(res.statusCode).toBe(413)
    expect(res.json().code).toBe('MUR_ERR_DOC_TOO_LARGE')

    expect(await version(server, 'yjs', 'capped')).toBe(before)
    // Small writes that fit are still taken.
    const small = await server.http.inject({ method: 'POST', url: '/v1/docs/yjs/capped/updates', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from(bigSet(1024, 'tiny', 2)) })
    expect(small.statusCode).toBe(200)
  })

  it('many small writes stop at the limit; an Automerge doc over /automerge is closed with 4413', async () => {
    const server = await startTestServer({ maxDocBytes: limit })
    const s = rawSync(server.url)
    await s.start()
    s.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'growing' })
    const d = new Y.Doc()
    const text = d.getText('t')
    let refused = false
    for (let i = 0; i < 40 && !refused; i++) {
      const update = await new Promise<Uint8Array>((resolve) => {
        d.once('update', (u: Uint8Array) => resolve(u))
        text.insert(text.length, 'x'.repeat(4096))
      })
      s.send({ type: MessageType.update, ref: 1, id: `w${i}`, replicas: 0, payload: update })
      const answer = await s.next((m) => (m.type === MessageType.ack && m.ids.includes(`w${i}`)) || (m.type === MessageType.error && m.updateId === `w${i}`), `answer ${i}`)
      refused = answer.type === MessageType.error
      if (refused) expect(answer).toMatchObject({ code: 'MUR_ERR_DOC_TOO_LARGE' })
    }
    expect(refused).toBe(true)
    const stored = (await server.registry.get({ engine: 'yjs', docId: asDocId('growing') })).doc.encodeSnapshot().length
    expect(stored).toBeLessThanOrEqual(limit)
    expect(stored).toBeGreaterThan(limit - 2 * 4096 - 1024)

    // automerge-repo's protocol: the big change arrives in a sync message; the socket is closed with 4413.
    const ws = new WebSocket(wsUrl(server.url, '/automerge'))
    ws.on('error', () => undefined)
    onTestFinished(() => ws.terminate())
    const cbor = new Encoder({ tagUint8Array: false, useRecords: false })
    const closedP = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    await new Promise<void>((resolve) => ws.once('open', () => resolve()))
    // Incompressible content: Automerge compresses its changes.
    const noise = randomBytes(100 * 1024).toString('base64')
    let local = A.from<{ blob: string }>({ blob: noise })
    let state = A.initSyncState()
    const pump = (type: string): void => {
      const [next, message] = A.generateSyncMessage(local, state)
      state = next
      if (message !== null) ws.send(cbor.encode({ type, senderId: 'p', targetId: 's', documentId: 'am-big', data: message }))
    }
    ws.on('message', (data: Buffer) => {
      const m = decode(data) as { type: string; data?: Uint8Array }
      if (m.type === 'peer') pump('sync')
      if (m.type === 'sync' && m.data !== undefined) {
        ;[local, state] = A.receiveSyncMessage(local, state, m.data)
        pump('sync')
      }
    })
    ws.send(cbor.encode({ type: 'join', senderId: 'p', peerMetadata: {}, supportedProtocolVersions: ['1'] }))
    expect(await within(closedP, 10_000, 'close')).toBe(4413)
    expect((await server.registry.get({ engine: 'automerge', docId: asDocId('am-big') })).doc.toJSON()).toEqual({})
  })
})

describe('rate limits', () => {
  it('a socket sending more messages than its rate allows is closed with 4429; others are unaffected', async () => {
    const server = await startTestServer({ maxMessagesPerSecond: 10, messageBurst: 20 })
    const flood = rawSync(server.url)
    await flood.start()
    const calm = rawSync(server.url)
    await calm.start()
    for (let i = 0; i < 100; i++) flood.send({ type: MessageType.ping, nonce: i })
    const closed = await within(flood.closed, 10_000, 'close')
    expect(closed.code).toBe(4429)
    expect(closed.reason).toContain('MUR_ERR_RATE_LIMITED')
    // The burst was served before the limit struck.
    expect(flood.received.filter((m) => m.type === MessageType.pong).length).toBeGreaterThanOrEqual(18)
    calm.send({ type: MessageType.ping, nonce: 1 })
    await calm.next((m) => m.type === MessageType.pong, 'pong on the calm socket')
  })

  it('an address opening connections faster than --ip-connections-per-second gets 4429', async () => {
    const server = await startTestServer({ ipConnectionsPerSecond: 1, ipConnectionBurst: 3 })
    const sockets = Array.from({ length: 5 }, () => rawSync(server.url))
    const outcomes = await Promise.all(
      sockets.map((s) => within(Promise.race([s.start().then(() => 'welcomed'), s.closed.then((c) => c.code)]), 10_000, 'outcome')),
    )
    expect(outcomes.filter((o) => o === 'welcomed')).toHaveLength(3)
    expect(outcomes.filter((o) => o === 4429)).toHaveLength(2)
  })

  it('HTTP requests past --http-requests-per-minute get 429 with the code; health and metrics are not limited', async () => {
    const server = await startTestServer({ httpRequestsPerMinute: 5 })
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) statuses.push((await server.http.inject({ url: '/v1/docs/yjs/x' })).statusCode)
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429])
    const limited = await server.http.inject({ url: '/v1/docs' })
    expect(limited.json()).toMatchObject({ code: 'MUR_ERR_RATE_LIMITED' })
    for (let i = 0; i < 10; i++) {
      expect((await server.http.inject({ url: '/healthz' })).statusCode).toBe(200)
      expect((await server.http.inject({ url: '/metrics' })).statusCode).toBe(200)
    }
  })
})
