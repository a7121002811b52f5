import 'fake-indexeddb/auto'
import { describe, expect, it } from 'vitest'
import { IndexedDbStore } from '../../client/dist/index.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient, untilSaved } from '../support/sdk.js'
import { untilText } from '../support/ywebsocket.js'
import { randomId } from '@murmur/shared'

describe('client SDK on IndexedDB', () => {
  it('one database for every doc; offline edits survive a reload; acks empty the outbox', async () => {
    const server = await startTestServer()
    const dbName = `murmur-${randomId()}`
    const store1 = await IndexedDbStore.open(dbName)
    const c1 = sdkClient(server.url, { store: store1, offline: true })
    const docs = Array.from({ length: 10 }, (_, i) => c1.yjs(`doc-${i}`))
    docs.forEach((h, i) => h.doc.getText('t').insert(0, `offline ${i}`))
    await Promise.all(docs.map((h) => h.whenStored()))
    await c1.close()
    await store1.close()
    const dbs = (await indexedDB.databases()).filter((d) => d.name?.startsWith('murmur'))
    expect(dbs.map((d) => d.name)).toContain(dbName)
    expect(dbs.filter((d) => d.name === dbName)).toHaveLength(1)

    // The reload: a new client on the same database sees every offline edit, then syncs them.
    const store2 = await IndexedDbStore.open(dbName)
    const c2 = sdkClient(server.url, { store: store2 })
    const again = Array.from({ length: 10 }, (_, i) => c2.yjs(`doc-${i}`))
    await Promise.all(again.map((h) => h.whenLoaded()))
    again.forEach((h, i) => expect(h.doc.getText('t').toString()).toBe(`offline ${i}`))
    expect(again[0].unsavedCount).toBe(1)
    await Promise.all(again.map((h) => untilSaved(h)))
    const reloaded = await store2.load('yjs:doc-3')
    expect(reloaded.outbox).toHaveLength(0)
    expect(reloaded.updates.length).toBeGreaterThan(0)
  })

  it('tabs of one origin share offline edits through BroadcastChannel at once', async () => {
    const server = await startTestServer()
    const dbName = `murmur-${randomId()}`
    const tab1 = sdkClient(server.url, { store: await IndexedDbStore.open(dbName), crossTab: true, offline: true })
    const tab2 = sdkClient(server.url, { store: await IndexedDbStore.open(dbName), crossTab: true, offline: true })
    const h1 = tab1.yjs('shared')
    const h2 = tab2.yjs('shared')
    await Promise.all([h1.whenLoaded(), h2.whenLoaded()])
    h1.doc.getText('t').insert(0, 'from tab one')
    await untilText(h2.doc, 't', 'from tab one')
    // Only the tab that made the edit owns it in the outbox; it is sent once a tab goes online.
    expect(h2.unsavedCount).toBe(0)
    tab1.setOnline(true)
    await untilSaved(h1)
    const live = await server.registry.get({ engine: 'yjs', docId: 'shared' as never })
    expect((live.doc.toJSON() as { t: string }).t).toBe('from tab one')
  })
})
