import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { MemoryStore, type Logger } from '../../client/dist/index.js'
import { MessageType, YSyncMessage, decodeMessage, encodeMessage, encodeYSyncMessage, type Message } from '../../shared/dist/index.js'
import { connectFake, fakeSocket, sentAtLeast, untilSent, wsDelivery, type FakeSocket } from '../support/fake-socket.js'
import { mapEdits } from '../support/yjs-edits.js'

const sentMessages = (ws: FakeSocket): Message[] => ws.sent.map((bytes) => decodeMessage(bytes))

/** The next turn of the event loop: what a socket read queued has run by then. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A client with doc 'd' open on the fake server, which answered its SyncStep1; the map's events are counted. */
async function openDoc(logger?: Logger) {
  const store = new MemoryStore()
  const { client, ws } = await connectFake(fakeSocket(['nodebuffer', 'arraybuffer'], 'ignore', wsDelivery), { store, logger })
  const handle = client.yjs('d')
  // hello, open, SyncStep1
  await sentAtLeast(ws, 3, 'open and SyncStep1')
  const open = sentMessages(ws).find((m) => m.type === MessageType.open)
  if (open?.type !== MessageType.open) throw new Error('no open message')
  const ref = open.ref
  const sync = (type: YSyncMessage, update: Uint8Array): Uint8Array =>
    encodeMessage({ type: MessageType.sync, ref, payload: encodeYSyncMessage(type, update) })
  ws.receive(sync(YSyncMessage.step2, Y.encodeStateAsUpdate(new Y.Doc())))
  const events: boolean[] = []
  handle.doc.getMap('m').observe((e) => events.push(e.transaction.local))
  /** What the local store holds for the doc, as a map. */
  const stored = async (): Promise<unknown> => {
    await handle.whenStored()
    const local = await store.load(handle.docKey)
    const copy = new Y.Doc()
    if (local.snapshot !== null) Y.applyUpdate(copy, local.snapshot)
    for (const u of local.updates) Y.applyUpdate(copy, u)
    return copy.getMap('m').toJSON()
  }
  return { ws, handle, ref, sync, events, stored }
}

describe('client SDK: sync messages read from the socket together', () => {
  it('go into the doc as one transaction; one read at a time, one each', async () => {
    const { ws, handle, sync, events, stored } = await openDoc()
    const { updates, final } = mapEdits(8)
    // One socket read holding four messages: the socket hands them over one after another.
    for (const u of updates.slice(0, 4)) ws.receive(sync(YSyncMessage.update, u))
    await nextTurn()
    expect(events).toEqual([false])
    // Four reads of one message each.
    for (const u of updates.slice(4)) {
      ws.receive(sync(YSyncMessage.update, u))
      await nextTurn()
    }
    expect(events).toEqual([false, false, false, false, false])
    expect(handle.doc.getMap('m').toJSON()).toEqual(final)
    expect(await stored()).toEqual(final)
  })

  it('a message after them is handled after them: an ack finds the changes that came before it applied', async () => {
    const { ws, handle, ref, sync, events } = await openDoc()
    const { updates } = mapEdits(2)
    handle.doc.getMap('mine').set('k', 1)
    const isUpdate = (bytes: Uint8Array): boolean => decodeMessage(bytes).type === MessageType.update
    await untilSent(ws, (sent) => sent.some(isUpdate), 'the local update')
    const mine = sentMessages(ws).find((m) => m.type === MessageType.update)
    if (mine?.type !== MessageType.update) throw new Error('no update sent')
    // What the doc held when the ack was handled.
    const seen: unknown[] = []
    const acked = new Promise<void>((resolve) =>
      handle.on('unsaved', (count) => {
        seen.push(handle.doc.getMap('m').toJSON())
        if (count === 0) resolve()
      }),
    )
    ws.receive(sync(YSyncMessage.update, updates[0]))
    ws.receive(sync(YSyncMessage.update, updates[1]))
    ws.receive(encodeMessage({ type: MessageType.ack, ref, ids: [mine.id] }))
    await acked
    expect(handle.unsavedCount).toBe(0)
    expect(seen).toEqual([{ w0: 0, w1: 1 }])
    expect(events).toEqual([false])
  })

  it('one the doc cannot take is logged and refused alone; the rest go in and are stored', async () => {
    const errors: unknown[] = []
    const logger: Logger = { debug() {}, info() {}, warn() {}, error: (...args) => errors.push(args) }
    const { ws, handle, sync, stored } = await openDoc(logger)
    const { updates, final } = mapEdits(6)
    for (const u of updates.slice(0, 3)) ws.receive(sync(YSyncMessage.update, u))
    ws.receive(sync(YSyncMessage.update, new Uint8Array([1])))
    for (const u of updates.slice(3)) ws.receive(sync(YSyncMessage.update, u))
    await nextTurn()
    expect(errors).toHaveLength(1)
    expect(handle.doc.getMap('m').toJSON()).toEqual(final)
    expect(await stored()).toEqual(final)
  })
})
