import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { yDocOf, yjsEngine, type EngineDoc } from '@murmur/shared'

/** Everything `doc`'s update listeners hear, applied to a replica: what a subscriber of a server gets. */
function follower(doc: EngineDoc): { replica: Y.Doc; heard: Uint8Array[] } {
  const replica = new Y.Doc()
  const heard: Uint8Array[] = []
  doc.onUpdate((update) => {
    heard.push(update)
    Y.applyUpdate(replica, update)
  })
  return { replica, heard }
}

describe('Yjs engine: what update listeners hear', () => {
  it('a small update is handed on as it arrived, once, and a duplicate is not handed on', () => {
    const doc = yjsEngine.create()
    const { heard } = follower(doc)
    const writer = new Y.Doc()
    writer.getText('t').insert(0, 'hi')
    const update = Y.encodeStateAsUpdate(writer)
    expect(doc.applyUpdate(update).changed).toBe(true)
    expect(heard).toEqual([update])
    expect(heard[0]).toBe(update)
    expect(doc.applyUpdate(update).persist).toBeNull()
    expect(heard).toHaveLength(1)
  })

  it('a change an observer makes while an update applies is heard too', () => {
    const doc = yjsEngine.create()
    const ydoc = yDocOf(doc)
    // An app that keeps a "seen" counter in step with the text.
    ydoc.getText('t').observe(() => {
      ydoc.getMap('m').set('seen', ydoc.getText('t').length)
    })
    const { replica } = follower(doc)
    const writer = new Y.Doc()
    writer.getText('t').insert(0, 'hello')
    doc.applyUpdate(Y.encodeStateAsUpdate(writer))
    expect(replica.getText('t').toString()).toBe('hello')
    expect(replica.getMap('m').get('seen')).toBe(5)
  })

  it('edits made on the doc between updates handed on as they arrived are heard, once each', () => {
    const doc = yjsEngine.create()
    const { heard, replica } = follower(doc)
    const text = yDocOf(doc).getText('t')
    const writer = new Y.Doc()
    const fromWriter = (s: string): Uint8Array => {
      const before = Y.encodeStateVector(writer)
      writer.getText('t').insert(0, s)
      return Y.encodeStateAsUpdate(writer, before)
    }
    doc.applyUpdate(fromWriter('a'))
    doc.applyUpdate(fromWriter('b'))
    text.insert(text.length, 'L')
    // Large enough that Yjs's own encoding stands for it, not the bytes that arrived.
    doc.applyUpdate(fromWriter('y'.repeat(20_000)))
    text.insert(text.length, 'M')
    doc.applyUpdate(fromWriter('c'))
    expect(heard).toHaveLength(6)
    expect(replica.getText('t').toString()).toBe(text.toString())
    expect(text.toString()).toMatch(/^cy+baLM$/)
  })

  it('trusted bytes are neither checked nor re-encoded, whatever their size', () => {
    const doc = yjsEngine.create()
    const { heard } = follower(doc)
    const writer = new Y.Doc()
    writer.getText('t').insert(0, 'x'.repeat(100_000))
    const update = Y.encodeStateAsUpdate(writer)
    doc.applyUpdate(update, null, { trusted: true })
    expect(heard).toHaveLength(1)
    expect(heard[0]).toBe(update)
  })

  it('property: a follower of what listeners hear ends where the doc ends, whatever order, duplicates and gaps updates arrive in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.boolean(),
        (edits, order, big) => {
          // Three writers editing one text; every update they make, in an arbitrary order with repeats.
          const writers = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
          const updates: Uint8Array[] = []
          for (const w of writers) w.on('update', (u: Uint8Array) => updates.push(u))
          if (big) writers[0].getText('t').insert(0, 'y'.repeat(20_000))
          for (const [who, pos, text, del] of edits) {
            const t = writers[who].getText('t')
            if (text.length > 0) t.insert(pos % (t.length + 1), text)
            if (del > 0 && t.length > 0) t.delete(pos % t.length, Math.min(del, t.length - (pos % t.length)))
            // Writers see each other now and then, so later edits depend on earlier ones of others.
            if (pos % 3 === 0) Y.applyUpdate(writers[(who + 1) % 3], Y.encodeStateAsUpdate(writers[who]))
          }
          if (updates.length === 0) return
          const doc = yjsEngine.create()
          const { replica } = follower(doc)
          for (const i of order) doc.applyUpdate(updates[i % updates.length])
          for (const u of updates) doc.applyUpdate(u)
          const ydoc = yDocOf(doc)
          expect(replica.getText('t').toString()).toBe(ydoc.getText('t').toString())
          expect(Y.encodeStateVector(replica)).toEqual(Y.encodeStateVector(ydoc))
        },
      ),
      { numRuns: 150, seed: 11 },
    )
  })
})
