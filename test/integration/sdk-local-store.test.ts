import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MemoryStore, type LocalStore } from '../../client/dist/index.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient, untilSynced } from '../support/sdk.js'
import { untilText } from '../support/ywebsocket.js'

/** A MemoryStore that records each `appendRemote` call and can hold them until released. */
class GatedStore extends MemoryStore {
  readonly remoteCalls: Uint8Array[][] = []
  private gate: Promise<void> = Promise.resolve()
  private open: () => void = () => undefined

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve))
  }

  release(): void {
    this.open()
  }

  override async appendRemote(docKey: string, updates: readonly Uint8Array[]): Promise<void> {
    this.remoteCalls.push([...updates])
    await this.gate
    await super.appendRemote(docKey, updates)
  }
}

/** A node, a reader whose store can be held, and a writer, both synced on `docId`. */
async function readerAndWriter(docId: string) {
  const server = await startTestServer()
  const store = new GatedStore()
  const reader = sdkClient(server.url, { store: store as LocalStore })
  const writer = sdkClient(server.url)
  const hr = reader.yjs(docId)
  const hw = writer.yjs(docId)
  await Promise.all([untilSynced(hr), untilSynced(hw)])
  return { server, store, reader, writer, hr, hw }
}

describe('client SDK: what reaches the local store', () => {
  it('updates from the server are stored as bytes of their own, in order, several to a write while the store is busy', async () => {
    const { server, store, reader, hr, hw } = await readerAndWriter('log')

    store.hold()
    const text = hw.doc.getText('t')
    for (let i = 0; i < 6; i++) {
      text.insert(text.length, `${i}`)
      // One update per message: wait until the reader has each before the next.
      await untilText(hr.doc, 't', text.toString())
    }
    store.release()
    await hr.whenStored()

    const stored = store.remoteCalls.flat()
    expect(stored).toHaveLength(6)
    // The first write was held; everything that arrived meanwhile went to the store in one call.
    expect(store.remoteCalls.length).toBeLessThan(6)
    expect(store.remoteCalls.at(-1)?.length).toBeGreaterThan(1)
    // Not views into the buffers the socket read (a store would keep those whole).
    for (const u of stored) {
      expect(u.byteOffset).toBe(0)
      expect(u.buffer.byteLength).toBe(u.byteLength)
    }
    // In arrival order: each one applies on top of the ones before it, with nothing left pending.
    const replay = new Y.Doc()
    for (const u of stored) {
      Y.applyUpdate(replay, u)
      expect(replay.store.pendingStructs).toBeNull()
    }
    expect(replay.getText('t').toString()).toBe('012345')

    // And a reload from that store has them.
    await reader.close()
    const reloaded = sdkClient(server.url, { store: store as LocalStore, offline: true })
    const h = reloaded.yjs('log')
    await h.whenLoaded()
    expect(h.doc.getText('t').toString()).toBe('012345')
  })

  it('a local edit made between updates from the server is logged between them', async () => {
    const { store, hr, hw } = await readerAndWriter('order')

    store.hold()
    const remote = hw.doc.getText('t')
    const local = hr.doc.getText('local')
    const fromWriter = async (s: string): Promise<void> => {
      remote.insert(remote.length, s)
      await untilText(hr.doc, 't', remote.toString())
    }
    await fromWriter('a') // its write is held
    await fromWriter('b') // queued behind it
    local.insert(0, 'L') // queued behind that
    await fromWriter('c') // must not join the queued write of 'b'
    store.release()
    await hr.whenStored()

    const { updates } = await store.load('yjs:order')
    const authors = updates.map((u) => (Y.decodeUpdate(u).structs[0].id.client === hr.doc.clientID ? 'reader' : 'writer'))
    expect(authors).toEqual(['writer', 'writer', 'reader', 'writer'])
  })
})
