import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { MessageType, decodeMessage, encodeMessage, type Message } from '@murmur/shared'
import { startTestServer, wsUrl } from '../support/servers.js'
import { sdkClient, untilSynced } from '../support/sdk.js'
import { within } from '../support/wait.js'
import type { DocHandle } from '../../client/dist/index.js'

/** A raw /sync socket that records messages and the close code. */
function rawSync(url: string) {
  const ws = new WebSocket(wsUrl(url, '/sync'))
  ws.on('error', () => undefined)
  const received: Message[] = []
  ws.on('message', (data: Buffer) => received.push(decodeMessage(new Uint8Array(data))))
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  const send = (m: Message | Uint8Array) => ws.send(m instanceof Uint8Array ? m : encodeMessage(m))
  const hello = () => send({ type: MessageType.hello, major: 1, minor: 0, token: '', client: 'test' })
  return { ws, received, opened, closed, send, hello }
}

describe('/sync: Murmur protocol v1', () => {
  it.each([
    ['garbage bytes', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'MUR_ERR_MALFORMED_MESSAGE'],
    ['an unknown message type', Uint8Array.from([99, 1, 2]), 'MUR_ERR_UNKNOWN_MESSAGE'],
    ['a truncated open', Uint8Array.from([MessageType.open, 1, 3, 121]), 'MUR_ERR_MALFORMED_MESSAGE'],
  ])('%s after hello gets an error code and a closed socket', async (_name, frame, code) => {
    const server = await startTestServer()
    const s = rawSync(server.url)
    await s.opened
    s.hello()
    s.send(frame)
    const { code: closeCode, reason } = await within(s.closed, 10_000, 'close')
    expect(closeCode).toBe(4400)
    expect(reason).toContain(code)
    expect(s.received.some((m) => m.type === MessageType.error && m.code === code)).toBe(true)
  })

  it('refuses messages before hello, unknown major versions, bad engines and invalid updates', async () => {
    const server = await startTestServer()
    const early = rawSync(server.url)
    await early.opened
    early.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'x' })
    expect((await within(early.closed, 10_000, 'close')).reason).toContain('MUR_ERR_HANDSHAKE_REQUIRED')

    const future = rawSync(server.url)
    await future.opened
    future.send({ type: MessageType.hello, major: 7, minor: 0, token: '', client: 'future' })
    const closed = await within(future.closed, 10_000, 'close')
    expect(closed.code).toBe(4426)
    expect(closed.reason).toContain('MUR_ERR_UNSUPPORTED_VERSION')

    const engine = rawSync(server.url)
    await engine.opened
    engine.hello()
    engine.send({ type: MessageType.open, ref: 1, engine: 'crdt-of-the-week', docId: 'x' })
    expect((await within(engine.closed, 10_000, 'close')).reason).toContain('MUR_ERR_UNKNOWN_ENGINE')

    // A valid doc with content, then an update that is not a Yjs update: refused, doc unharmed.
    const writer = sdkClient(server.url)
    const h = writer.yjs('victim')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'safe')
    await untilSynced(h)
    const bad = rawSync(server.url)
    await bad.opened
    bad.hello()
    bad.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'victim' })
    bad.send({ type: MessageType.update, ref: 1, id: 'u1', replicas: 0, payload: Uint8Array.from([1, 200, 3, 4, 5, 6, 7, 8]) })
    expect((await within(bad.closed, 10_000, 'close')).reason).toContain('MUR_ERR_INVALID_UPDATE')
    const live = await server.registry.get({ engine: 'yjs', docId: 'victim' as never })
    expect((live.doc.toJSON() as { t: string }).t).toBe('safe')
    expect(h.status).toBe('synced')
  })

  it('200 docs on one client share one socket, and each handle only sees its own messages', async () => {
    const server = await startTestServer()
    const client = sdkClient(server.url)
    const handles = Array.from({ length: 200 }, (_, i) => client.yjs(`doc-${i}`))
    const misrouted: string[] = []
    for (const h of handles) {
      const original = h.receive.bind(h)
      h.receive = (msg) => {
        if ('ref' in msg && msg.ref !== h.ref) misrouted.push(`${h.docKey} got ref ${msg.ref}`)
        original(msg)
      }
    }
    await Promise.all(handles.map((h) => untilSynced(h)))
    handles.forEach((h, i) => h.doc.getText('t').insert(0, `content ${i}`))
    await Promise.all(handles.map((h) => untilSynced(h)))
    expect(server.socketCount).toBe(1)

    // A second client edits every doc; each change lands in the right handle only.
    const other = sdkClient(server.url)
    const otherHandles = Array.from({ length: 200 }, (_, i) => other.yjs(`doc-${i}`))
    await Promise.all(otherHandles.map((h) => untilSynced(h)))
    otherHandles.forEach((h, i) => h.doc.getText('t').insert(0, `[${i}]`))
    await Promise.all(
      handles.map((h: DocHandle, i) =>
        within(
          new Promise<void>((resolve) => {
            const doc = (h as unknown as { doc: Y.Doc }).doc
            const check = () => doc.getText('t').toString() === `[${i}]content ${i}` && resolve()
            check()
            doc.on('update', check)
          }),
          20_000,
          `doc-${i} to converge`,
        ),
      ),
    )
    expect(misrouted).toEqual([])
    expect(server.socketCount).toBe(2)
  })
})
