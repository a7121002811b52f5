import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../client/dist/index.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { untilText } from '../support/ywebsocket.js'

describe('client SDK: offline first', () => {
  it('offline edits reach the server and another client on connect; concurrent edits converge', async () => {
    const server = await startTestServer()
    const a = sdkClient(server.url, { offline: true })
    const ha = a.yjs('notes')
    await ha.whenLoaded()
    expect(ha.status).toBe('offline')
    ha.doc.getText('t').insert(0, 'typed offline. ')
    expect(ha.unsavedCount).toBe(1)

    const b = sdkClient(server.url)
    const hb = b.yjs('notes')
    await untilSynced(hb)
    hb.doc.getText('t').insert(0, 'online edit. ')

    a.setOnline(true)
    await untilSynced(ha)
    expect(ha.unsavedCount).toBe(0)
    const expected = ha.doc.getText('t').toString()
    await untilText(hb.doc, 't', expected)
    expect(expected).toContain('typed offline. ')
    expect(expected).toContain('online edit. ')
    // The server holds it too.
    const live = await server.registry.get({ engine: 'yjs', docId: 'notes' as never })
    expect((live.doc.toJSON() as { t: string }).t).toBe(expected)
  })

  it('a reload on the same store sees offline edits, and a crashed client’s unacked updates are re-sent', async () => {
    const server = await startTestServer()
    const store = new MemoryStore()
    const crashed = sdkClient(server.url, { store, offline: true })
    const h1 = crashed.yjs('draft')
    for (let i = 0; i < 20; i++) h1.doc.getText('t').insert(h1.doc.getText('t').length, `line ${i}\n`)
    await h1.whenStored()
    expect(store.outboxSize('yjs:draft')).toBe(20)
    // The tab dies: no close(), nothing sent. A new client on the same store is the reload.
    const reloaded = sdkClient(server.url, { store, offline: true })
    const h2 = reloaded.yjs('draft')
    await h2.whenLoaded()
    expect(h2.doc.getText('t').toString()).toBe(h1.doc.getText('t').toString())
    expect(h2.unsavedCount).toBe(20)

    reloaded.setOnline(true)
    await untilSaved(h2)
    expect(store.outboxSize('yjs:draft')).toBe(0)
    const live = await server.registry.get({ engine: 'yjs', docId: 'draft' as never })
    expect((live.doc.toJSON() as { t: string }).t).toBe(h1.doc.getText('t').toString())
  })

  it('statuses move offline → connecting/syncing → synced and the unsaved count is visible', async () => {
    const server = await startTestServer()
    const c = sdkClient(server.url, { offline: true })
    const h = c.yjs('status')
    const seen: string[] = []
    h.on('status', (s) => seen.push(s))
    h.doc.getText('t').insert(0, 'x')
    c.setOnline(true)
    await untilSynced(h)
    expect(seen[0]).toBe('connecting')
    expect(seen).toContain('syncing')
    expect(seen.at(-1)).toBe('synced')
    c.setOnline(false)
    expect(h.status).toBe('offline')
  })
})
