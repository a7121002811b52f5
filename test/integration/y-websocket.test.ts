import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { startTestServer } from '../support/servers.js'
import { untilText, whenProviderSynced, yProvider } from '../support/ywebsocket.js'
import { onEvent, until } from '../support/wait.js'

describe('unmodified y-websocket clients on /yjs/<doc>', () => {
  it('two providers edit one Y.Text concurrently and converge', async () => {
    const server = await startTestServer()
    const a = yProvider(server.url, 'shared-text')
    const b = yProvider(server.url, 'shared-text')
    await Promise.all([whenProviderSynced(a), whenProviderSynced(b)])

    // Concurrent edits: both type before seeing the other's.
    a.doc.getText('t').insert(0, 'hello ')
    b.doc.getText('t').insert(0, 'world ')
    for (let i = 0; i < 50; i++) {
      a.doc.getText('t').insert(a.doc.getText('t').length, `a${i}`)
      b.doc.getText('t').insert(0, `b${i}`)
    }
    const converged = (): boolean => a.doc.getText('t').toString() === b.doc.getText('t').toString()
    await until(converged, (cb) => {
      a.doc.on('update', cb)
      b.doc.on('update', cb)
      return () => {
        a.doc.off('update', cb)
        b.doc.off('update', cb)
      }
    }, 20_000, 'convergence')
    const text = a.doc.getText('t').toString()
    expect(text).toContain('hello ')
    expect(text).toContain('world ')
    expect(text).toContain('a49')
    expect(text).toContain('b49')

    // A third client that joins later gets the merged state from the server.
    const c = yProvider(server.url, 'shared-text')
    await whenProviderSynced(c)
    await untilText(c.doc, 't', text)
  })

  it('awareness reaches the other client and disappears when a client disconnects', async () => {
    const server = await startTestServer()
    const a = yProvider(server.url, 'presence')
    const b = yProvider(server.url, 'presence')
    await Promise.all([whenProviderSynced(a), whenProviderSynced(b)])
    a.awareness.setLocalStateField('user', { name: 'Ada' })
    b.awareness.setLocalStateField('user', { name: 'Bo' })
    const seesOther = (p: typeof a, name: string) => () =>
      [...p.awareness.getStates().values()].some((s) => (s as { user?: { name: string } }).user?.name === name)
    await until(seesOther(a, 'Bo'), onEvent(a.awareness, 'change'), 10_000, 'a to see b')
    await until(seesOther(b, 'Ada'), onEvent(b.awareness, 'change'), 10_000, 'b to see a')

    // b goes away without a goodbye: the server removes its state for everyone.
    const bId = b.awareness.clientID
    b.ws?.close()
    b.shouldConnect = false
    await until(() => !a.awareness.getStates().has(bId), onEvent(a.awareness, 'change'), 10_000, 'b to disappear from a')
    expect(a.awareness.getStates().has(bId)).toBe(false)
  })

  it('keeps idle clients alive: a message arrives at least every keep-alive interval', async () => {
    const server = await startTestServer({ keepAliveMs: 300 })
    const a = yProvider(server.url, 'idle')
    await whenProviderSynced(a)
    const before = a.wsLastMessageReceived
    await until(() => a.wsLastMessageReceived > before, (cb) => {
      const ws = a.ws as unknown as { addEventListener(n: string, f: () => void): void; removeEventListener(n: string, f: () => void): void }
      ws.addEventListener('message', cb)
      return () => ws.removeEventListener('message', cb)
    }, 5_000, 'a keep-alive message')
    expect(a.wsconnected).toBe(true)
  })

  it('serves a doc with its stored content to a new doc instance after edits', async () => {
    const server = await startTestServer()
    const a = yProvider(server.url, 'stored')
    await whenProviderSynced(a)
    a.doc.getText('t').insert(0, 'persisted')
    const doc = new Y.Doc()
    const b = yProvider(server.url, 'stored', doc)
    await whenProviderSynced(b)
    await untilText(doc, 't', 'persisted')
  })
})
