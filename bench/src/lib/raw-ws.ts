import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { withTimeout } from './timing.js'

/**
 * Raw WebSocket connections for edge measurements: frames written exactly as given (fragments, pings),
 * and upgrades left half-done, which no WebSocket library sends.
 */

export const Op = { continuation: 0x0, binary: 0x2, ping: 0x9, pong: 0xa } as const

/** A masked client frame. */
export function frame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const length = payload.length
  const header = length < 126 ? Buffer.alloc(2) : length < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10)
  header[0] = (fin ? 0x80 : 0) | opcode
  if (length < 126) header[1] = 0x80 | length
  else if (length < 0x10000) {
    header[1] = 0x80 | 126
    header.writeUInt16BE(length, 2)
  } else {
    header[1] = 0x80 | 127
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    header.writeUInt32BE(length >>> 0, 6)
  }
  const mask = randomBytes(4)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3]
  return Buffer.concat([header, mask, body])
}

export function upgradeRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
}

export async function tcp(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => undefined)
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 10_000, 'a TCP connection')
  return socket
}

/** An upgraded raw WebSocket to `path`. */
export async function rawSocket(port: number, path: string): Promise<Socket> {
  const socket = await tcp(port)
  socket.write(upgradeRequest(path))
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      let head = ''
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1')
        if (!head.includes('\r\n\r\n')) return
        socket.off('data', onData)
        if (head.startsWith('HTTP/1.1 101')) resolve()
        else reject(new Error(head.split('\r\n')[0]))
      }
      socket.on('data', onData)
    }),
    10_000,
    'the 101 answer',
  )
  // Whatever the server sends from here (sync messages, awareness) is read and dropped.
  socket.resume()
  return socket
}

/** Resolves once the server read everything sent before: it answers a ping written after it. */
export async function drained(socket: Socket): Promise<void> {
  await withTimeout(
    new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        if (chunk.includes(0x80 | Op.pong)) {
          socket.off('data', onData)
          resolve()
        }
      }
      socket.on('data', onData)
      socket.write(frame(Op.ping, Buffer.from('drained')))
    }),
    60_000,
    'the pong after a flood',
  )
}
