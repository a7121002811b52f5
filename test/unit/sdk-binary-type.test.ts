import { describe, expect, it, onTestFinished } from 'vitest'
import { createClient, type WebSocketConstructor } from '../../client/dist/index.js'
import { MessageType, encodeMessage } from '../../shared/dist/index.js'
import { until } from '../support/wait.js'

/** How a socket hands a binary message over, for each binaryType it accepts. */
type Deliver = (bytes: Uint8Array, binaryType: string) => unknown

/**
 * A socket that accepts only the binary types it lists: a browser ignores any other value (or, in some,
 * throws), `ws` in Node also knows 'nodebuffer'.
 */
function fakeSocket(accepted: readonly string[], onUnknown: 'ignore' | 'throw', deliver: Deliver) {
  const sockets: FakeSocket[] = []
  class FakeSocket {
    private type = 'blob'
    readonly readyState = 1
    readonly bufferedAmount = 0
    readonly sent: Uint8Array[] = []
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

    readonly sendListeners = new Set<() => void>()

    send(data: Uint8Array): void {
      this.sent.push(data)
      for (const l of this.sendListeners) l()
    }

    close(): void {}

    receive(bytes: Uint8Array): void {
      this.onmessage?.({ data: deliver(bytes, this.type) })
    }
  }
  return { WebSocket: FakeSocket as unknown as WebSocketConstructor, sockets }
}

/** What a browser hands over: an ArrayBuffer for 'arraybuffer', else a Blob. */
const browserDelivery: Deliver = (bytes, type) => (type === 'arraybuffer' ? bytes.slice().buffer : new Blob([bytes.slice()]))
/** What `ws` hands over: a Buffer that is a view into a larger read buffer for 'nodebuffer'. */
const wsDelivery: Deliver = (bytes, type) => {
  if (type === 'arraybuffer') return bytes.slice().buffer
  if (type !== 'nodebuffer') throw new Error(`ws delivers no ${type}`)
  const chunk = Buffer.alloc(bytes.length + 32)
  chunk.set(bytes, 16)
  return chunk.subarray(16, 16 + bytes.length)
}

async function connect(socket: ReturnType<typeof fakeSocket>): Promise<string> {
  const client = createClient({ url: 'ws://127.0.0.1:1', WebSocket: socket.WebSocket, crossTab: false })
  onTestFinished(() => client.close())
  const [ws] = socket.sockets
  ws.onopen?.({})
  await until(
    () => ws.sent.length > 0,
    (cb) => {
      ws.sendListeners.add(cb)
      return () => ws.sendListeners.delete(cb)
    },
    5000,
    'hello',
  )
  ws.receive(encodeMessage({ type: MessageType.welcome, major: 1, minor: 0, nodeId: 'n1' }))
  await until(() => client.state === 'open', (cb) => client.on('status', cb), 5000, 'open')
  return ws.binaryType
}

describe('client SDK: binary messages, whatever the WebSocket', () => {
  it('in a browser that ignores unknown binary types, messages arrive as ArrayBuffers', async () => {
    expect(await connect(fakeSocket(['blob', 'arraybuffer'], 'ignore', browserDelivery))).toBe('arraybuffer')
  })

  it('in a browser that throws on unknown binary types, too', async () => {
    expect(await connect(fakeSocket(['blob', 'arraybuffer'], 'throw', browserDelivery))).toBe('arraybuffer')
  })

  it('with ws, messages are read from the Buffer ws hands over, without a copy of their own', async () => {
    expect(await connect(fakeSocket(['nodebuffer', 'arraybuffer', 'fragments'], 'ignore', wsDelivery))).toBe('nodebuffer')
  })
})
