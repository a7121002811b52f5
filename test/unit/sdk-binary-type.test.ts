import { describe, expect, it } from 'vitest'
import { browserDelivery, connectFake, fakeSocket, wsDelivery } from '../support/fake-socket.js'

async function connect(socket: ReturnType<typeof fakeSocket>): Promise<string> {
  const { ws } = await connectFake(socket)
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
