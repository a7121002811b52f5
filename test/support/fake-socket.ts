import { onTestFinished } from 'vitest'
import { createClient, type ClientOptions, type MurmurClient, type WebSocketConstructor } from '../../client/dist/index.js'
import { MessageType, encodeMessage } from '../../shared/dist/index.js'
import { until } from './wait.js'

/** How a socket hands a binary message over, for each binaryType it accepts. */
export type Deliver = (bytes: Uint8Array, binaryType: string) => unknown

/** What a browser hands over: an ArrayBuffer for 'arraybuffer', else a Blob. */
export const browserDelivery: Deliver = (bytes, type) => (type === 'arraybuffer' ? bytes.slice().buffer : new Blob([bytes.slice()]))

/** What `ws` hands over: a Buffer that is a view into a larger read buffer for 'nodebuffer'. */
export const wsDelivery: Deliver = (bytes, type) => {
  if (type === 'arraybuffer') return bytes.slice().buffer
  if (type !== 'nodebuffer') throw new Error(`ws delivers no ${type}`)
  const chunk = Buffer.alloc(bytes.length + 32)
  chunk.set(bytes, 16)
  return chunk.subarray(16, 16 + bytes.length)
}

export interface FakeSocket {
  readonly binaryType: string
  readonly sent: Uint8Array[]
  readonly sendListeners: Set<() => void>
  onopen: ((ev: unknown) => void) | null
  /** The server's side: hand the client one message, as the socket would. */
  receive(bytes: Uint8Array): void
}

/**
 * A WebSocket class for the SDK, played by the test as the server. It accepts only the binary types it
 * lists: a browser ignores any other value (or, in some, throws), `ws` in Node also knows 'nodebuffer'.
 */
export function fakeSocket(
  accepted: readonly string[],
  onUnknown: 'ignore' | 'throw',
  deliver: Deliver,
): { WebSocket: WebSocketConstructor; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = []
  class Socket implements FakeSocket {
    private type = 'blob'
    readonly readyState = 1
    readonly bufferedAmount = 0
    readonly sent: Uint8Array[] = []
    readonly sendListeners = new Set<() => void>()
    onopen: ((ev: unknown) => void) | null = null
    onclose: ((ev: { code: number; reason: string }) => void) | null = null
    onmessage: ((ev: { data: unknown }) => void) | null = null
    onerror: ((ev: unknown) => void) | null = null

    constructor() {
      sockets.push(this)
    }

    get binaryType(): string {
      return this.type
    }

    set binaryType(value: string) {
      if (accepted.includes(value)) this.type = value
      else if (onUnknown === 'throw') throw new SyntaxError(`unknown binaryType ${value}`)
    }

    send(data: Uint8Array): void {
      this.sent.push(data)
      for (const l of this.sendListeners) l()
    }

    close(): void {}

    receive(bytes: Uint8Array): void {
      this.onmessage?.({ data: deliver(bytes, this.type) })
    }
  }
  return { WebSocket: Socket as unknown as WebSocketConstructor, sockets }
}

/** Wait until what the client sent on `ws` passes `check`. */
export function untilSent(ws: FakeSocket, check: (sent: readonly Uint8Array[]) => boolean, what: string): Promise<void> {
  return until(
    () => check(ws.sent),
    (cb) => {
      ws.sendListeners.add(cb)
      return () => ws.sendListeners.delete(cb)
    },
    5000,
    what,
  )
}

/** Wait until the client has sent at least `count` messages on `ws`. */
export function sentAtLeast(ws: FakeSocket, count: number, what: string): Promise<void> {
  return untilSent(ws, (sent) => sent.length >= count, what)
}

/** A client on the first socket of `socket`, past the hello and the welcome (closed when the test ends). */
export async function connectFake(
  socket: ReturnType<typeof fakeSocket>,
  options: Omit<ClientOptions, 'url' | 'WebSocket'> = {},
): Promise<{ client: MurmurClient; ws: FakeSocket }> {
  const client = createClient({ crossTab: false, ...options, url: 'ws://127.0.0.1:1', WebSocket: socket.WebSocket })
  onTestFinished(() => client.close())
  const [ws] = socket.sockets
  ws.onopen?.({})
  await sentAtLeast(ws, 1, 'hello')
  ws.receive(encodeMessage({ type: MessageType.welcome, major: 1, minor: 0, nodeId: 'n1' }))
  await until(() => client.state === 'open', (cb) => client.on('status', cb), 5000, 'open')
  return { client, ws }
}
