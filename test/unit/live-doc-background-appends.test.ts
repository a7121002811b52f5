import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { wrapYDoc, type DocId } from '@murmur/shared'
import { LiveDoc, MemoryStorage } from '../../server/dist/index.js'

const quietLog = { warn: () => undefined, error: () => undefined, info: () => undefined, debug: () => undefined } as never
const KEY = { engine: 'yjs' as const, docId: 'pushed' as DocId }

/**
 * A doc on a storage whose background commits would not happen within the test: every commit seen here
 * was made because someone waited for it.
 */
function setup() {
  const storage = new MemoryStorage(undefined, { backgroundCommitMs: 600_000 })
  const live = new LiveDoc(KEY, wrapYDoc(new Y.Doc()), storage, { compactEveryUpdates: 1e9, compactEveryBytes: 1 << 30, maxDocBytes: 1 << 30 }, quietLog, { lastSeq: 0, updates: 0, updateBytes: 0 })
  const writer = new Y.Doc()
  const updates: Uint8Array[] = []
  writer.on('update', (u: Uint8Array) => updates.push(u))
  const edit = (text: string): Uint8Array => {
    writer.getText('t').insert(0, text)
    return updates.shift()!
  }
  const committed = async (): Promise<number> => (await storage.load(KEY))?.updates.length ?? 0
  return { storage, live, edit, committed }
}

/** Lets every microtask and the next turn of the event loop run (a memory commit takes one turn). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('LiveDoc: background appends', () => {
  it('leaves a background append pending until someone waits for the doc to be durable', async () => {
    const { live, edit, committed } = setup()
    void live.apply(edit('pushed'), { from: null, durability: 'background' })
    await turn()
    await turn()
    expect(await committed()).toBe(0)
    await live.whenDurable()
    expect(await committed()).toBe(1)
  })

  it('a duplicate applied by a caller who waits (a W-of-N push after the fast one) does not wait for the background deadline', async () => {
    const { live, edit, committed } = setup()
    const update = edit('twice')
    void live.apply(update, { from: null, durability: 'background' })
    await live.apply(update, { from: null })
    expect(await committed()).toBe(1)
  })

  it('a write someone waits for takes the background appends before it along', async () => {
    const { live, edit, committed } = setup()
    void live.apply(edit('a'), { from: null, durability: 'background' })
    void live.apply(edit('b'), { from: null, durability: 'background' })
    await live.apply(edit('c'), { from: null })
    expect(await committed()).toBe(3)
  })

  it('a duplicate that is itself a background push does not hurry anything', async () => {
    const { live, edit, committed } = setup()
    const update = edit('once')
    void live.apply(update, { from: null, durability: 'background' })
    void live.apply(update, { from: null, durability: 'background' })
    await turn()
    await turn()
    expect(await committed()).toBe(0)
  })
})
