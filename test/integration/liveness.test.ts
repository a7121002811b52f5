/**
 * Liveness on the server's side: a socket whose peer stopped answering is dropped, a socket whose peer
 * is still receiving what we sent is not (however long that takes), and idle sockets get keep-alives.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { ChunkAssembler, MessageType, YSyncMessage, asDocId, decodeMessage, encodeMessage, encodeYSyncMessage, type Message } from '@murmur/shared'
import { startTestServer, wsUrl } from '../support/servers.js'
import { eventually, within } from '../support/wait.js'

/** A raw `/sync` client; `autoPong: false` makes one that never answers the server's pings. */
function rawSync(url: string, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(wsUrl(url, '/sync'), options)
  ws.on('error', () => undefined)
  onTestFinished(() => ws.terminate())
  const assembler = new ChunkAssembler(1024 * 1024 * 1024)
  const listeners = new Set<(m: Message) => void>()
  ws.on('message', (data: Buffer) => {
    let msg = decodeMessage(new Uint8Array(data))
    if (msg.type === MessageType.chunk) {
      const whole = assembler.push(msg)
      if (whole === null) return
      msg = decodeMessage(whole)
    }
    for (const l of listeners) l(msg)
  })
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  const next = (pred: (m: Message) => boolean, what: string, ms = 10_000): Promise<Message> =>
    within(
      new Promise<Message>((resolve) => {
        const check = (m: Message): void => {
          if (!pred(m)) return
          listeners.delete(check)
          resolve(m)
        }
        listeners.add(check)
      }),
      ms,
      what,
    )
  const send = (m: Message): void => ws.send(encodeMessage(m))
  const start = async (): Promise<void> => {
    await new Promise<void>((resolve) => ws.once('open', () => resolve()))
    const welcome = next((m) => m.type === MessageType.welcome, 'welcome')
    send({ type: MessageType.hello, major: 1, minor: 0, token: '', client: 'liveness' })
    await welcome
  }
  return { ws, closed, next, send, start }
}

describe('server-side liveness', () => {
  it('drops a socket that stopped answering pings and sends nothing', async () => {
    // Pings every second (the floor), so a silent peer is judged after about two seconds.
    const server = await startTestServer({ keepAliveMs: 300 })
    const c = rawSync(server.url, { autoPong: false })
    await c.start()
    expect(server.socketCount).toBe(1)
    // Terminated, not closed with a handshake: the peer is presumed gone.
    expect(await within(c.closed, 10_000, 'the server to drop the silent socket')).toBe(1006)
    // The server's close event may come a moment after the client saw the connection end.
    await eventually(async () => server.socketCount === 0, 5_000, 'the server to forget the socket')
  })

  it('keeps an idle /sync socket whose client answers the keep-alive pings, ws pongs or not', async () => {
    const server = await startTestServer({ keepAliveMs: 300 })
    const c = rawSync(server.url, { autoPong: false })
    let pings = 0
    c.ws.on('message', (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data))
      if (m.type !== MessageType.ping) return
      pings++
      c.send({ type: MessageType.pong, nonce: m.nonce })
    })
    await c.start()
    // Over four ping intervals: a client that did not answer would have been dropped after two.
    await c.next((m) => m.type === MessageType.ping && pings >= 14, 'fourteen keep-alives', 10_000)
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
    expect(server.socketCount).toBe(1)
  })

  it('keeps a socket that does not read while our data to it is still on its way', async () => {
    const server = await startTestServer({ keepAliveMs: 300 })
    // 24 MB of random text: more than loopback's socket buffers hold, so most of it waits on our side.
    const big = new Y.Doc()
    big.getMap('m').set('blob', randomBytes(12 * 1024 * 1024).toString('hex'))
    const update = Y.encodeStateAsUpdate(big)
    await (await server.registry.get({ engine: 'yjs', docId: asDocId('big') })).apply(update, { from: null })

    const c = rawSync(server.url)
    await c.start()
    const synced = c.next((m) => m.type === MessageType.sync && m.payload[0] === YSyncMessage.step2, 'the whole doc', 60_000)
    c.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'big' })
    c.send({ type: MessageType.sync, ref: 1, payload: encodeYSyncMessage(YSyncMessage.step1, Y.encodeStateVector(new Y.Doc())) })
    // The client stops reading, so its pongs stay unwritten behind the doc; for three ping intervals the
    // server hears nothing from it. (This wait is the stall under test, not a synchronisation.)
    c.ws.pause()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    c.ws.resume()
    const msg = await Promise.race([synced, c.closed.then((code) => Promise.reject(new Error(`dropped with ${code} before the doc arrived`)))])
    expect(msg.type === MessageType.sync && msg.payload.length).toBeGreaterThan(update.length)
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
    expect(server.socketCount).toBe(1)
  })

  it('sends a keep-alive ping on an idle /sync socket every keep-alive interval', async () => {
    const server = await startTestServer({ keepAliveMs: 300 })
    const c = rawSync(server.url)
    await c.start()
    const first = await c.next((m) => m.type === MessageType.ping, 'a keep-alive', 5_000)
    expect(first).toMatchObject({ type: MessageType.ping })
    const started = performance.now()
    await c.next((m) => m.type === MessageType.ping, 'another keep-alive', 5_000)
    // Once per interval at most (nothing else was sent meanwhile), and not much later than that.
    expect(performance.now() - started).toBeGreaterThan(200)
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
  })
})
