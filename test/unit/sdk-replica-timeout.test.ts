/**
 * A write whose replicas did not answer in time (MUR_ERR_REPLICATION_TIMEOUT: a replica died, as in a
 * failover) is sent again by the SDK on the same connection a little later, under the same id, until a
 * node acknowledges it; it is not left in the outbox until the next reconnect.
 */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../client/dist/index.js'
import { ErrorCode, MessageType, YSyncMessage, decodeMessage, encodeMessage, encodeYSyncMessage, type Message } from '../../shared/dist/index.js'
import { connectFake, fakeSocket, untilSent, wsDelivery, type FakeSocket } from '../support/fake-socket.js'
import { untilSaved } from '../support/sdk.js'

const sentMessages = (ws: FakeSocket): Message[] => ws.sent.map((bytes) => decodeMessage(bytes))
const updatesSent = (ws: FakeSocket) => sentMessages(ws).filter((m) => m.type === MessageType.update)

describe('client SDK: a write that timed out on its replicas', () => {
  it('is sent again under the same id and leaves the outbox when acknowledged', async () => {
    const { client, ws } = await connectFake(fakeSocket(['nodebuffer', 'arraybuffer'], 'ignore', wsDelivery), { store: new MemoryStore(), replicas: 2 })
    const handle = client.yjs('d')
    await untilSent(ws, (sent) => sent.some((b) => decodeMessage(b).type === MessageType.open), 'open')
    const open = sentMessages(ws).find((m) => m.type === MessageType.open)
    if (open?.type !== MessageType.open) throw new Error('no open message')
    ws.receive(encodeMessage({ type: MessageType.sync, ref: open.ref, payload: encodeYSyncMessage(YSyncMessage.step2, Y.encodeStateAsUpdate(new Y.Doc())) }))
    handle.doc.getMap('m').set('k', 1)
    await untilSent(ws, () => updatesSent(ws).length === 1, 'the update')
    const [first] = updatesSent(ws)
    if (first.type !== MessageType.update) throw new Error('not an update')
    expect(first.replicas).toBe(2)
    ws.receive(encodeMessage({ type: MessageType.error, ref: open.ref, code: ErrorCode.REPLICATION_TIMEOUT, message: 'could not reach 2 replicas', updateId: first.id }))
    // Sent again (after a jittered pause of one to two seconds), the same id and bytes.
    await untilSent(ws, () => updatesSent(ws).length === 2, 'the update again')
    const again = updatesSent(ws)[1]
    if (again.type !== MessageType.update) throw new Error('not an update')
    expect(again.id).toBe(first.id)
    expect(again.payload).toEqual(first.payload)
    expect(handle.unsavedCount).toBe(1)
    ws.receive(encodeMessage({ type: MessageType.ack, ref: open.ref, ids: [again.id] }))
    await untilSaved(handle, 5000)
  })
})
