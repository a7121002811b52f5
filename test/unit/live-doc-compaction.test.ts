import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { wrapYDoc, type DocId, type EngineDoc } from '@murmur/shared'
import { LiveDoc, MemoryStorage, type DocSubscriber } from '../../server/dist/index.js'

const quietLog = { warn: () => undefined, error: () => undefined, info: () => undefined, debug: () => undefined } as never

/** An engine doc whose snapshot takes `ms` to encode (an Automerge doc with a long history, in effect). */
function slowSnapshots(doc: EngineDoc, ms: number): EngineDoc {
  return Object.assign(Object.create(doc) as EngineDoc, {
    encodeSnapshot(): Uint8Array {
      const until = performance.now() + ms
      while (performance.now() < until) {
        // Busy: this is the cost being modelled.
      }
      return doc.encodeSnapshot()
    },
  })
}

describe('LiveDoc: automatic compaction', () => {
  it('compacts a doc with slow snapshots less often, so compaction costs at most ~0.2 ms per update', async () => {
    const storage = new MemoryStorage()
    const compactions: number[] = []
    const compact = storage.compact.bind(storage)
    let appended = 0
    storage.compact = async (key, snapshot, upToSeq) => {
      compactions.push(appended)
      return compact(key, snapshot, upToSeq)
    }
    const ydoc = new Y.Doc()
    const doc = slowSnapshots(wrapYDoc(ydoc), 40)
    const live = new LiveDoc({ engine: 'yjs', docId: 'slow' as DocId }, doc, storage, { compactEveryUpdates: 10, compactEveryBytes: 1 << 30, maxDocBytes: 1 << 30 }, quietLog, { lastSeq: 0, updates: 0, updateBytes: 0 })
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const origin: DocSubscriber = { deliverUpdate() {}, deliverAwareness() {}, fail() {} }
    for (let i = 0; i < 400; i++) {
      writer.getText('t').insert(0, 'x')
      await live.apply(updates.shift()!, { from: origin })
      appended++
      // Let a compaction that was started finish before the next write, as it would between keystrokes.
      await live.whenDurable()
      await new Promise((resolve) => setImmediate(resolve))
    }
    // The first compaction comes at the configured threshold; after it took ~40 ms, the next ones wait
    // for ~200 updates (40 ms / 0.2 ms), not 10.
    expect(compactions[0]).toBe(10)
    expect(compactions.length).toBeGreaterThanOrEqual(2)
    for (let i = 1; i < compactions.length; i++) expect(compactions[i] - compactions[i - 1]).toBeGreaterThanOrEqual(190)
    expect(ydoc.getText('t').toString()).toBe('x'.repeat(400))
  })

  it('keeps compacting at the thresholds when snapshots are cheap', async () => {
    const storage = new MemoryStorage()
    let compactions = 0
    const compact = storage.compact.bind(storage)
    storage.compact = async (key, snapshot, upToSeq) => {
      compactions++
      return compact(key, snapshot, upToSeq)
    }
    const ydoc = new Y.Doc()
    // A clock that stands still: every snapshot costs nothing, whatever else the machine is doing.
    const clock = () => 0
    const live = new LiveDoc({ engine: 'yjs', docId: 'fast' as DocId }, wrapYDoc(ydoc), storage, { compactEveryUpdates: 10, compactEveryBytes: 1 << 30, maxDocBytes: 1 << 30, clock }, quietLog, { lastSeq: 0, updates: 0, updateBytes: 0 })
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const origin: DocSubscriber = { deliverUpdate() {}, deliverAwareness() {}, fail() {} }
    for (let i = 0; i < 100; i++) {
      writer.getText('t').insert(0, 'x')
      await live.apply(updates.shift()!, { from: origin })
      await live.whenDurable()
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(compactions).toBeGreaterThanOrEqual(9)
  })
})
