import v8 from 'node:v8'
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { CloseCode, MessageType, PROTOCOL_MAJOR, PROTOCOL_MINOR, encodeMessage } from '@murmur/shared'
import { Opcode } from '../../server/dist/ws/websocket.js'
import { startTestServer, wsUrl } from '../support/servers.js'
import { clientFrame } from '../support/ws-frames.js'
import { closedBy, rawWebSocket, tcpTo, upgradeRequest } from '../support/raw-upgrade.js'
import { within } from '../support/wait.js'

/**
 * Bounded memory on every socket input: upgrades and handshakes time out in seconds, and fragment floods
 * (empty, tiny, one per TCP read) keep what the server holds within about the max frame per socket.
 */
async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  ws.on('error', () => undefined)
  return within(new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))), 10_000, 'the socket to close')
}

describe('timeouts at the edge', () => {
  it('a connection that never finishes its upgrade request is closed after --upgrade-timeout-ms, and counted', async () => {
    const server = await startTestServer({ upgradeTimeoutMs: 1000 })
    const silent = await tcpTo(server.url)
    const partial = await tcpTo(server.url)
    partial.write(upgradeRequest('/sync').slice(0, 40))
    const started = Date.now()
    await within(Promise.all([closedBy(silent), closedBy(partial)]), 5000, 'half-open upgrades to be closed')
    expect(Date.now() - started).toBeLessThan(4000)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/murmur_limit_hits_total\{limit="upgrade-timeout-ms"\} [12]/u)
  })

  it('a socket without hello (/sync) or join (/automerge) is closed with 4407 after --handshake-timeout-ms; one that said hello stays', async () => {
    const server = await startTestServer({ handshakeTimeoutMs: 300 })
    const greeted = new WebSocket(wsUrl(server.url, '/sync'))
    greeted.on('error', () => undefined)
    await new Promise((resolve) => greeted.once('open', resolve))
    greeted.send(encodeMessage({ type: MessageType.hello, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, token: '', client: 'edge-test' }))
    await new Promise((resolve) => greeted.once('message', resolve))

    for (const path of ['/sync', '/automerge']) {
      const closed = await closeOf(new WebSocket(wsUrl(server.url, path)))
      expect(closed.code, path).toBe(CloseCode.HANDSHAKE_TIMEOUT)
      expect(closed.reason).toBe('MUR_ERR_HANDSHAKE_TIMEOUT: no handshake within 300 ms (--handshake-timeout-ms)')
    }
    expect(greeted.readyState).toBe(WebSocket.OPEN)
    // Still served after the deadline passed: a ping is answered.
    greeted.send(encodeMessage({ type: MessageType.ping, nonce: 7 }))
    await within(new Promise((resolve) => greeted.once('message', resolve)), 5000, 'a pong')
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/murmur_limit_hits_total\{limit="handshake-timeout-ms"\} 2/u)
  })
})

/** `gc()` of this process, for a measurement of what is retained rather than what is garbage. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc')
  return vm.runInNewContext('gc') as () => void
}

function retained(gc: () => void): number {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

/** Every byte sent so far was read by the server: it answers a ping sent after them. */
async function drained(socket: import('node:net').Socket): Promise<void> {
  const pong = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      if ((chunk[0] & 0x0f) === Opcode.pong || chunk.includes(0x8a)) {
        socket.off('data', onData)
        resolve()
      }
    }
    socket.on('data', onData)
  })
  socket.write(clientFrame(Opcode.ping, Buffer.from('drain')))
  await within(pong, 20_000, 'the pong after a flood')
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('fragment floods', () => {
  it('empty, tiny and one-per-read fragments keep the server within about the max frame per socket', async () => {
    const maxFrameBytes = 64 * 1024
    const server = await startTestServer({ maxFrameBytes, maxMessagesPerSecond: 0, handshakeTimeoutMs: 0 })
    const gc = collector()
    const sockets = 30
    const open = await Promise.all(Array.from({ length: sockets }, () => rawWebSocket(server.url, '/sync')))
    const before = retained(gc)

    const overflowing: import('node:net').Socket[] = []
    for (const [i, socket] of open.entries()) {
      socket.write(clientFrame(Opcode.binary, Buffer.alloc(0), { fin: false }))
      if (i % 3 === 0) {
        // Empty fragments, many: they hold nothing, and do not count against the fragment limit.
        socket.write(Buffer.concat(Array.from({ length: 20_000 }, () => clientFrame(Opcode.continuation, Buffer.alloc(0), { fin: false }))))
      } else if (i % 3 === 1) {
        // Tiny fragments in one burst, past the fragment limit: closed with 1008 before they pile up.
        socket.write(Buffer.concat(Array.from({ length: 5000 }, () => clientFrame(Opcode.continuation, Buffer.from([i]), { fin: false }))))
        overflowing.push(socket)
      } else {
        // One tiny fragment per write, each on its own turn: one per TCP read.
        for (let k = 0; k < 300; k++) {
          socket.write(clientFrame(Opcode.continuation, Buffer.from([k]), { fin: false }))
          await nextTurn()
        }
      }
    }
    await within(Promise.all(overflowing.map((s) => closedBy(s))), 10_000, 'sockets past the fragment limit to be closed')
    const open2 = open.filter((s) => !overflowing.includes(s))
    await Promise.all(open2.map((s) => drained(s)))
    const grown = retained(gc) - before
    const perSocket = grown / open2.length
    console.log(`fragment floods: ${(grown / 1024).toFixed(0)} KiB retained by ${open2.length} open sockets, ${(perSocket / 1024).toFixed(1)} KiB per socket`)
    expect(perSocket).toBeLessThan(maxFrameBytes + 64 * 1024)
    expect(server.socketCount).toBe(open2.length)
  })
})

describe('frame limit', () => {
  it('a message over --max-frame-bytes is refused from its header with 1009, and counted', async () => {
    const server = await startTestServer({ maxFrameBytes: 1024 })
    const socket = await rawWebSocket(server.url, '/sync')
    const closed = closedBy(socket)
    socket.write(clientFrame(Opcode.binary, Buffer.alloc(2048)))
    await within(closed, 10_000, 'the socket to be closed')
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/murmur_limit_hits_total\{limit="max-frame-bytes"\} 1/u)
    expect(metrics).toMatch(/murmur_errors_total\{code="MUR_ERR_FRAME_TOO_LARGE"\} 1/u)
  })
})
