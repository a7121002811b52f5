import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { EngineName, getEngine, type SyncSession } from '@murmur/shared'
import { BroadcastFrames, sharesUpdateMessages } from '../../server/dist/sync/broadcast.js'

function yUpdate(text: string): Uint8Array {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

describe('BroadcastFrames', () => {
  it('is only used for engines whose sessions tell every peer the same about an update', () => {
    // The memo stands one session's messages in for everyone's: true of Yjs, whatever each peer holds
    // or may do, and not of Automerge, whose messages depend on each peer's sync state.
    const doc = getEngine(EngineName.yjs).create()
    doc.applyUpdate(yUpdate('base'), null)
    const writer = doc.createSyncSession()
    const reader = doc.createSyncSession({ readOnly: true })
    const merged = doc.createSyncSession()
    merged.receive(writer.start()[0])
    const update = yUpdate('more')
    const expected = writer.onDocUpdate(update)
    expect(reader.onDocUpdate(update)).toEqual(expected)
    expect(merged.onDocUpdate(update)).toEqual(expected)
    expect(sharesUpdateMessages(EngineName.yjs)).toBe(true)
    expect(sharesUpdateMessages(EngineName.automerge)).toBe(false)
  })

  it('encodes an update once per key, whatever the number of sockets, and forgets it after the tick', async () => {
    let sessionCalls = 0
    const encoded: number[] = []
    const session = {
      onDocUpdate: (u: Uint8Array) => {
        sessionCalls++
        return [u]
      },
    } as unknown as SyncSession
    const memo = new BroadcastFrames((payload, key) => {
      encoded.push(key)
      return new Uint8Array([key, ...payload])
    })
    const update = new Uint8Array([7, 8])
    const first = memo.framesFor(update, session, 1)
    for (let i = 0; i < 10; i++) expect(memo.framesFor(update, session, 1)[0]).toBe(first[0])
    const other = memo.framesFor(update, session, 2)
    expect([...first[0]]).toEqual([1, 7, 8])
    expect([...other[0]]).toEqual([2, 7, 8])
    expect(Buffer.isBuffer(first[0])).toBe(true)
    expect(sessionCalls).toBe(1)
    expect(encoded).toEqual([1, 2])

    // A new update (same bytes, another object) is a new fan-out.
    memo.framesFor(new Uint8Array([7, 8]), session, 1)
    expect(sessionCalls).toBe(2)

    await new Promise((resolve) => process.nextTick(resolve))
    memo.framesFor(update, session, 1)
    expect(sessionCalls).toBe(3)
  })
})
