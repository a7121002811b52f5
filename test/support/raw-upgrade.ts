import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { onTestFinished } from 'vitest'
import { within } from './wait.js'

/** A TCP connection to a node, with teardown registered. */
export async function tcpTo(httpUrl: string): Promise<Socket> {
  const url = new URL(httpUrl)
  const socket = connect(Number(url.port), url.hostname)
  socket.on('error', () => undefined)
  onTestFinished(() => {
    socket.destroy()
  })
  await within(new Promise((resolve) => socket.once('connect', resolve)), 10_000, 'a TCP connection')
  return socket
}

/** The upgrade request of a WebSocket to `path`, byte for byte. */
export function upgradeRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
}

/** A raw WebSocket: upgraded by hand, so that a test can send exactly the frames it wants, in the writes it wants. */
export async function rawWebSocket(httpUrl: string, path: string): Promise<Socket> {
  const socket = await tcpTo(httpUrl)
  socket.write(upgradeRequest(path))
  await within(
    new Promise<void>((resolve, reject) => {
      let head = ''
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('data', onData)
        if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head.split('\r\n')[0]))
        else resolve()
      }
      socket.on('data', onData)
    }),
    10_000,
    'the 101 answer',
  )
  return socket
}

/** Resolve when the peer closed `socket` (what it sent before is read and dropped, so that its end is seen). */
export function closedBy(socket: Socket): Promise<void> {
  socket.resume()
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())))
}
