/**
 * Adding an engine is one registration: a node stores, serves (/sync and the HTTP API) and lists docs of
 * an engine it was never written for, and the SDK syncs them, with no change anywhere else.
 */
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { registerEngine, yDocOf, yjsEngine, type Engine } from '@murmur/shared'
import { MemoryDisk, MemoryStorage } from '../../server/dist/index.js'
import { ClientCore, DocHandle, MemoryStore, type ClientOptions } from '../../client/dist/index.js'
import { startTestServer } from '../support/servers.js'
import { untilSaved, untilSynced } from '../support/sdk.js'
import { until } from '../support/wait.js'

/** An engine the server has never heard of: Yjs's adapter under another name. */
const copy: Engine = { ...yjsEngine, name: 'yjs-copy' }

/** What an SDK for a new engine adds to the client core: one `open`. */
class CopyClient extends ClientCore {
  openCopy(docId: string): { handle: DocHandle; text: () => string; insert: (s: string) => void } {
    const doc = copy.create()
    const handle = this.open(copy.name, docId, (ref, host) => new DocHandle(copy, docId, ref, doc, host))
    const t = yDocOf(doc).getText('t')
    return { handle, text: () => t.toString(), insert: (s) => t.insert(t.length, s) }
  }
}

function copyClient(url: string): CopyClient {
  const client = new CopyClient({ url, WebSocket: WebSocket as unknown as ClientOptions['WebSocket'], store: new MemoryStore() })
  return client
}

describe('an engine added by registration alone', () => {
  it('is synced, stored, listed and served after a restart', async () => {
    registerEngine(copy)
    const disk = new MemoryDisk()
    const server = await startTestServer({}, { storage: new MemoryStorage(disk) })
    const writer = copyClient(server.url)
    const reader = copyClient(server.url)
    try {
      const w = writer.openCopy('notes')
      const r = reader.openCopy('notes')
      await untilSynced(w.handle)
      w.insert('hello')
      await untilSaved(w.handle)
      await until(() => r.text() === 'hello', (cb) => r.handle.on('status', cb), 10_000, 'the reader to get the edit')
      expect(w.handle.docKey).toBe('yjs-copy:notes')
    } finally {
      await writer.close()
      await reader.close()
      await server.close()
    }

    const again = await startTestServer({}, { storage: new MemoryStorage(disk) })
    const doc = (await again.http.inject({ url: '/v1/docs/yjs-copy/notes' })).json()
    expect(doc).toMatchObject({ engine: 'yjs-copy', docId: 'notes', content: { t: 'hello' } })
    const list = (await again.http.inject({ url: '/v1/docs' })).json()
    expect(list.docs).toContainEqual(expect.objectContaining({ engine: 'yjs-copy', docId: 'notes' }))
    const filtered = (await again.http.inject({ url: '/v1/docs?engine=yjs-copy' })).json()
    expect(filtered.docs).toEqual([expect.objectContaining({ engine: 'yjs-copy', docId: 'notes' })])
    // Its docs are apart from the Yjs docs of the same id.
    expect((await again.http.inject({ url: '/v1/docs/yjs/notes' })).json().content).not.toEqual({ t: 'hello' })
  })

  it('is unknown until registered', async () => {
    const server = await startTestServer()
    const res = await server.http.inject({ url: '/v1/docs/other-engine/notes' })
    expect(res.json()).toMatchObject({ code: 'MUR_ERR_UNKNOWN_ENGINE' })
  })
})
