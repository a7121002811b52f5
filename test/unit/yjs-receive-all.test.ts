import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { YSyncMessage, encodeYSyncMessage, yDocOf, yjsEngine } from '../../shared/src/index.js'
import { mapEdits } from '../support/yjs-edits.js'

const asUpdate = (u: Uint8Array): Uint8Array => encodeYSyncMessage(YSyncMessage.update, u)

/** A doc with a session from `trusted` (or not) peer, counting its observer events and what listeners hear. */
function receiver(trusted: boolean) {
  const doc = yjsEngine.create()
  const session = doc.createSyncSession({ trustedPeer: trusted })
  const events: { keys: string[]; local: boolean }[] = []
  yDocOf(doc)
    .getMap('m')
    .observe((e) => events.push({ keys: [...e.keysChanged], local: e.transaction.local }))
  const heard: Uint8Array[] = []
  doc.onUpdate((u) => heard.push(u))
  /** A fresh doc built from what the update listeners heard (what the SDK stores). */
  const rebuilt = (): unknown => {
    const copy = new Y.Doc()
    for (const u of heard) Y.applyUpdate(copy, u)
    return copy.getMap('m').toJSON()
  }
  return { doc, session, events, heard, rebuilt, map: () => yDocOf(doc).getMap('m').toJSON() }
}

describe('Yjs sync session: messages that arrived together', () => {
  it('from a trusted peer, a run of updates goes in as one transaction, not local, each update heard as it is', () => {
    const { updates, final } = mapEdits(6)
    const r = receiver(true)
    const { replies, errors } = r.session.receiveAll(updates.map(asUpdate), 'server')
    expect(errors).toEqual([])
    expect(replies).toEqual([])
    expect(r.events).toHaveLength(1)
    expect(r.events[0]).toEqual({ keys: expect.arrayContaining(['w0', 'w1']) as unknown, local: false })
    expect(r.map()).toEqual(final)
    expect(r.heard).toEqual(updates)
    expect(r.rebuilt()).toEqual(final)
  })

  it('from any other peer, one transaction per message, as `receive` does', () => {
    const { updates, final } = mapEdits(6)
    const r = receiver(false)
    expect(r.session.receiveAll(updates.map(asUpdate), 'client').errors).toEqual([])
    expect(r.events).toHaveLength(6)
    expect(r.map()).toEqual(final)
  })

  it('a message Yjs fails on is refused alone: the rest of its run goes in, and everything that went in is heard', () => {
    const { updates, final } = mapEdits(6)
    const r = receiver(true)
    // Decodes as a sync message; Yjs throws part-way through the update ("unexpected end of array").
    const broken = asUpdate(new Uint8Array([1]))
    const messages = [...updates.slice(0, 3).map(asUpdate), broken, ...updates.slice(3).map(asUpdate)]
    const { errors } = r.session.receiveAll(messages, 'server')
    expect(errors).toHaveLength(1)
    expect((errors[0] as Error).message).toMatch(/Yjs rejected update/)
    expect(r.map()).toEqual(final)
    expect(r.rebuilt()).toEqual(final)
  })

  it('a SyncStep1 among them is answered in its place, and a SyncStep2 marks the peer state merged', () => {
    const { updates, final } = mapEdits(4)
    const r = receiver(true)
    expect(r.session.peerStateMerged).toBe(false)
    const step1 = encodeYSyncMessage(YSyncMessage.step1, Y.encodeStateVector(new Y.Doc()))
    const step2 = encodeYSyncMessage(YSyncMessage.step2, updates[0])
    const { replies, errors } = r.session.receiveAll([step2, asUpdate(updates[1]), step1, asUpdate(updates[2]), asUpdate(updates[3])], 'server')
    expect(errors).toEqual([])
    expect(r.session.peerStateMerged).toBe(true)
    // Two runs around the SyncStep1: two transactions.
    expect(r.events).toHaveLength(2)
    // The answer holds what the doc had when the SyncStep1 came: the first two updates, not the last two.
    expect(replies).toHaveLength(1)
    const answered = new Y.Doc()
    const reply = replies[0]
    expect(reply[0]).toBe(YSyncMessage.step2)
    Y.applyUpdate(answered, reply.subarray(2))
    expect(answered.getMap('m').toJSON()).toEqual({ w0: 0, w1: 1 })
    expect(r.map()).toEqual(final)
  })

  it('a message that does not decode is refused alone, without breaking the run', () => {
    const { updates, final } = mapEdits(3)
    const r = receiver(true)
    const { errors } = r.session.receiveAll([asUpdate(updates[0]), new Uint8Array([9, 9]), asUpdate(updates[1]), asUpdate(updates[2])], 'server')
    expect(errors).toHaveLength(1)
    expect(r.map()).toEqual(final)
    expect(r.events).toHaveLength(1)
  })
})
