/**
 * The node's own WebSocket transport, spoken to over raw TCP: the opening handshake and its refusals,
 * frames that arrive with the upgrade request, pings, the closing handshake from either side, a peer
 * that only half-closes, and frames that break RFC 6455. A `ws` client checks fragmented messages.
 */
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { MessageType, decodeMessage, encodeMessage } from '@murmur/shared'
import { startTestServer, wsUrl } from '../support/servers.js'
import { eventually, until, within } from '../support/wait.js'
import { Opcode, closePayload } from '../../server/dist/ws/websocket.js'
import { clientFrame } from '../support/ws-frames.js'

const HELLO = encodeMessage({ type: MessageType.hello, major: 1, minor: 0, token: '', client: 'raw-tcp' })

interface ServerFrame {
  opcode: number
  payload: Buffer
}

/** A WebSocket client written against RFC 6455 by hand, to send what a conforming client never would. */
class RawClient {
  readonly tcp: net.Socket
  /** The HTTP response to the upgrade: status line and headers. */
  readonly response: Promise<{ status: number; headers: string; body: string }>
  readonly frames: ServerFrame[] = []
  readonly ended: Promise<void>
  private input = Buffer.alloc(0)
  private upgraded = false
  private readonly listeners = new Set<() => void>()

  constructor(port: number, request: string, extra: Buffer = Buffer.alloc(0)) {
    this.tcp = net.connect(port, '127.0.0.1')
    this.tcp.on('error', () => undefined)
    this.tcp.write(Buffer.concat([Buffer.from(request), extra]))
    let answer: (r: { status: number; headers: string; body: string }) => void = () => undefined
    this.response = new Promise((resolve) => (answer = resolve))
    this.ended = new Promise((resolve) => this.tcp.once('close', () => resolve()))
    this.tcp.on('data', (chunk: Buffer) => {
      this.input = Buffer.concat([this.input, chunk])
      if (!this.upgraded) {
        const end = this.input.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = this.input.subarray(0, end).toString()
        const status = Number(head.split(' ')[1])
        this.upgraded = status === 101
        answer({ status, headers: head, body: this.input.subarray(end + 4).toString() })
        this.input = this.upgraded ? this.input.subarray(end + 4) : Buffer.alloc(0)
      }
      this.parse()
    })
    this.tcp.on('end', () => this.notify())
  }

  private parse(): void {
    for (;;) {
      if (this.input.length < 2) break
      let length = this.input[1] & 0x7f
      let at = 2
      if (length === 126) {
        if (this.input.length < 4) break
        length = this.input.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (this.input.length < 10) break
        length = this.input.readUInt32BE(6)
        at = 10
      }
      if (this.input.length < at + length) break
      this.frames.push({ opcode: this.input[0] & 0x0f, payload: Buffer.from(this.input.subarray(at, at + length)) })
      this.input = this.input.subarray(at + length)
    }
    this.notify()
  }

  private notify(): void {
    for (const listener of this.listeners) listener()
  }

  /** The first frame with `opcode`, waiting for it. */
  async frame(opcode: number): Promise<ServerFrame> {
    const find = (): ServerFrame | undefined => this.frames.find((f) => f.opcode === opcode)
    await until(
      () => find() !== undefined,
      (cb) => {
        this.listeners.add(cb)
        return () => this.listeners.delete(cb)
      },
      10_000,
      `a frame with opcode ${opcode}`,
    )
    return find() as ServerFrame
  }

  async closeCode(): Promise<number> {
    return (await this.frame(Opcode.close)).payload.readUInt16BE(0)
  }

  send(frame: Buffer): void {
    this.tcp.write(frame)
  }
}

function upgradeRequest(port: number, path: string, headers: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  }
  return `GET ${path} HTTP/1.1\r\n${Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`
}

async function openSync(port: number, extra?: Buffer): Promise<RawClient> {
  const c = new RawClient(port, upgradeRequest(port, '/sync'), extra)
  expect((await within(c.response, 10_000, 'the upgrade response')).status).toBe(101)
  return c
}

describe('WebSocket transport (RFC 6455 over raw TCP)', () => {
  it('answers the handshake with the accept key of RFC 6455 and the first offered subprotocol', async () => {
    const server = await startTestServer()
    const key = 'dGhlIHNhbXBsZSBub25jZQ=='
    const c = new RawClient(server.port, upgradeRequest(server.port, '/sync', { 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Protocol': 'murmur, other' }))
    const { status, headers } = await within(c.response, 10_000, 'the upgrade response')
    expect(status).toBe(101)
    // The example of RFC 6455 §1.3.
    expect(headers).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
    expect(headers).toContain('Sec-WebSocket-Protocol: murmur')
    c.tcp.destroy()
  })

  it.each([
    ['an unsupported version', { 'Sec-WebSocket-Version': '8' }, 426, 'Sec-WebSocket-Version: 13'],
    ['a missing key', { 'Sec-WebSocket-Key': '' }, 400, 'Sec-WebSocket-Key'],
    ['a key that is not 16 bytes', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }, 400, 'Sec-WebSocket-Key'],
  ])('refuses a handshake with %s with an HTTP error that says why, then closes', async (_name, headers, status, text) => {
    const server = await startTestServer()
    const c = new RawClient(server.port, upgradeRequest(server.port, '/sync', headers))
    const response = await within(c.response, 10_000, 'the refusal')
    expect(response.status).toBe(status)
    expect(`${response.headers}\n${response.body}`).toContain(text)
    await within(c.ended, 10_000, 'the socket to close')
  })

  it('reads frames that came in the same packet as the upgrade request', async () => {
    const server = await startTestServer()
    const c = await openSync(server.port, clientFrame(Opcode.binary, HELLO))
    const welcome = decodeMessage(new Uint8Array((await c.frame(Opcode.binary)).payload))
    expect(welcome.type).toBe(MessageType.welcome)
    c.tcp.destroy()
  })

  it('answers a ping with a pong carrying the same payload', async () => {
    const server = await startTestServer()
    const c = await openSync(server.port)
    c.send(clientFrame(Opcode.ping, Buffer.from('are you there')))
    expect((await c.frame(Opcode.pong)).payload.toString()).toBe('are you there')
    c.tcp.destroy()
  })

  it("echoes the client's close code and ends the connection, and forgets the socket", async () => {
    const server = await startTestServer()
    const c = await openSync(server.port)
    expect(server.socketCount).toBe(1)
    c.send(clientFrame(Opcode.close, closePayload(4001, 'done here')))
    expect(await c.closeCode()).toBe(4001)
    await within(c.ended, 10_000, 'the server to end the connection')
    // The server's socket closes once the client's FIN reaches it, just after the client's own close.
    await eventually(async () => server.socketCount === 0, 10_000, 'the server to forget the socket')
  })

  it('ends its side when a client only half-closes the TCP connection', async () => {
    const server = await startTestServer()
    const c = await openSync(server.port, clientFrame(Opcode.binary, HELLO))
    await c.frame(Opcode.binary)
    c.tcp.end()
    await within(c.ended, 10_000, 'the server to end its side')
  })

  it.each([
    ['an unmasked frame', clientFrame(Opcode.binary, HELLO, { mask: false }), 1002],
    ['an unknown opcode', clientFrame(0x5, HELLO), 1002],
    ['a message over --max-frame-bytes, announced by its header alone', clientFrame(Opcode.binary, Buffer.alloc(0), { length: 10_000_000 }).subarray(0, 14), 1009],
  ])('closes with the RFC 6455 code on %s', async (_name, frame, code) => {
    const server = await startTestServer({ maxFrameBytes: 64 * 1024 })
    const c = await openSync(server.port)
    c.send(frame)
    expect(await c.closeCode()).toBe(code)
    await within(c.ended, 10_000, 'the connection to end')
  })

  it('survives garbage after the handshake on every socket at once, and serves the next client', async () => {
    const server = await startTestServer()
    let seed = 12345
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    const clients = await Promise.all(Array.from({ length: 40 }, () => openSync(server.port)))
    for (const c of clients) {
      // Random bytes, sometimes behind a valid frame so the reader is mid-stream when they arrive.
      const garbage = Buffer.from(Array.from({ length: random(4000) }, () => random(256)))
      c.send(random(2) === 0 ? garbage : Buffer.concat([clientFrame(Opcode.binary, HELLO), garbage]))
      c.tcp.end()
    }
    await Promise.all(clients.map((c) => within(c.ended, 10_000, 'each garbage socket to end')))
    await eventually(async () => server.socketCount === 0, 10_000, 'the server to forget every garbage socket')
    const ok = await openSync(server.port, clientFrame(Opcode.binary, HELLO))
    expect(decodeMessage(new Uint8Array((await ok.frame(Opcode.binary)).payload)).type).toBe(MessageType.welcome)
    ok.tcp.destroy()
  })

  it('joins a message a ws client sends in fragments', async () => {
    const server = await startTestServer()
    const ws = new WebSocket(wsUrl(server.url, '/sync'))
    const welcome = new Promise<number>((resolve) => ws.once('message', (data: Buffer) => resolve(decodeMessage(new Uint8Array(data)).type)))
    await new Promise<void>((resolve) => ws.once('open', () => resolve()))
    ws.send(HELLO.subarray(0, 3), { fin: false })
    ws.ping()
    ws.send(HELLO.subarray(3), { fin: true })
    expect(await within(welcome, 10_000, 'welcome')).toBe(MessageType.welcome)
    ws.close()
  })
})
