// @vitest-environment happy-dom
/**
 * The React hooks against a real server: two clients in this process, one rendered with React, the other
 * writing as a remote person would. Rendering counts come from the components' own bodies.
 */
import { createElement, Suspense, type ReactNode } from 'react'
import { cleanup, render, screen } from '@testing-library/react'
import { afterEach, beforeAll, describe, expect, onTestFinished, test, vi } from 'vitest'
import WebSocket from 'ws'
import { createClient, MemoryStore, type ClientOptions, type MurmurClient, type WebSocketConstructor } from '../../client/dist/index.js'
import { MurmurProvider, useConnection, useAutomergeDoc, useAutomergeValue, usePresence, useSyncStatus, useTokenRefresh, useYjsDoc, useYjsValue } from '../../react/dist/index.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startTestServer } from '../support/servers.js'
import { until } from '../support/wait.js'

beforeAll(() => {
  // Updates come from sockets, not from inside act(): let React schedule them as it would in an app.
  ;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false
})
afterEach(cleanup)

function client(url: string, options: Partial<ClientOptions> = {}): MurmurClient {
  const c = createClient({ url, WebSocket: WebSocket as unknown as WebSocketConstructor, store: new MemoryStore(), crossTab: false, ...options })
  return c
}

async function clients(): Promise<{ app: MurmurClient; remote: MurmurClient }> {
  const server = await startTestServer()
  const app = client(server.url)
  const remote = client(server.url)
  return { app, remote }
}

function mount(c: MurmurClient, children: ReactNode): void {
  render(createElement(MurmurProvider, { client: c }, createElement(Suspense, { fallback: createElement('p', null, 'loading') }, children)))
}

/** Render, then wait for React to be done with whatever else may be pending. */
function settled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

describe('React hooks', () => {
  test('a Yjs value re-renders once per remote change of it, and not for changes elsewhere in the doc', async () => {
    const { app, remote } = await clients()
    let renders = 0
    function Title(): ReactNode {
      const handle = useYjsDoc('notes', { suspense: true })
      // A fresh object on every read, as selectors that build views of the doc make.
      const meta = useYjsValue(handle, (doc) => ({ title: String(doc.getMap('meta').get('title') ?? '(none)') }))
      renders++
      return createElement('h1', null, meta.title)
    }
    mount(app, createElement(Title))
    await screen.findByText('(none)')
    const appDoc = app.yjs('notes')
    const remoteDoc = remote.yjs('notes')
    await Promise.all([appDoc.whenSynced(), remoteDoc.whenSynced()])
    const before = renders

    for (const [i, title] of ['One', 'Two', 'Three'].entries()) {
      remoteDoc.doc.getMap('meta').set('title', title)
      await screen.findByText(title)
      expect(renders).toBe(before + i + 1)
    }

    // Elsewhere in the doc: other keys of the same map, another type.
    const body = remoteDoc.doc.getText('body')
    for (let i = 0; i < 5; i++) {
      remoteDoc.doc.getMap('meta').set('updatedBy', `remote-${i}`)
      body.insert(body.length, `line ${i}\n`)
    }
    // The same title again is no change either.
    remoteDoc.doc.getMap('meta').set('title', 'Three')
    await until(() => appDoc.doc.getText('body').length === body.length && appDoc.doc.getMap('meta').get('updatedBy') === 'remote-4', (cb) => {
      appDoc.doc.on('update', cb)
      return () => appDoc.doc.off('update', cb)
    }, 10_000, 'the remote edits elsewhere')
    await settled()
    expect(renders).toBe(before + 3)
    await Promise.all([app.close(), remote.close()])
  })

  test('an Automerge value re-renders once per remote change of it, and not for changes elsewhere in the doc', async () => {
    const { app, remote } = await clients()
    type Board = { todos?: string[]; views?: number }
    let renders = 0
    function Todos(): ReactNode {
      const handle = useAutomergeDoc<Board>('board', { suspense: true })
      const todos = useAutomergeValue(handle, (doc) => [...(doc.todos ?? [])])
      renders++
      return createElement('p', null, `todos: ${todos.join(',')}`)
    }
    mount(app, createElement(Todos))
    await screen.findByText('todos:')
    const remoteDoc = remote.automerge<Board>('board')
    const appDoc = app.automerge<Board>('board')
    await Promise.all([appDoc.whenSynced(), remoteDoc.whenSynced()])
    remoteDoc.change((d) => {
      d.todos = []
      d.views = 0
    })
    await until(() => appDoc.doc().views === 0, (cb) => appDoc.on('change', cb), 10_000, 'the shape')
    await settled()
    const before = renders

    for (const [i, todo] of ['milk', 'eggs'].entries()) {
      remoteDoc.change((d) => {
        d.todos?.push(todo)
      })
      await screen.findByText(`todos: ${['milk', 'eggs'].slice(0, i + 1).join(',')}`)
      expect(renders).toBe(before + i + 1)
    }
    for (let i = 1; i <= 5; i++) {
      remoteDoc.change((d) => {
        d.views = i
      })
    }
    await until(() => appDoc.doc().views === 5, (cb) => appDoc.on('change', cb), 10_000, 'the remote edits elsewhere')
    await settled()
    expect(renders).toBe(before + 2)
    await Promise.all([app.close(), remote.close()])
  })

  test('Suspense: the first render already shows what the device stored', async () => {
    const server = await startTestServer()
    const store = new MemoryStore()
    const earlier = client(server.url, { store, offline: true })
    earlier.yjs('kept').doc.getMap('meta').set('title', 'Stored here')
    await earlier.close()

    const seen: unknown[] = []
    function Title(): ReactNode {
      const title = useYjsValue(useYjsDoc('kept', { suspense: true }), (doc) => doc.getMap('meta').get('title') ?? null)
      seen.push(title)
      return createElement('h1', null, String(title))
    }
    const app = client(server.url, { store, offline: true })
    mount(app, createElement(Title))
    await screen.findByText('Stored here')
    expect(seen).not.toContain(null)
    await app.close()
  })

  test('sync status: offline with unsaved edits, then saved on the server', async () => {
    const server = await startTestServer()
    const app = client(server.url, { offline: true })
    const shown: string[] = []
    function Status(): ReactNode {
      const handle = useYjsDoc('status-doc', { suspense: true })
      const { status, unsaved } = useSyncStatus(handle)
      shown.push(`${status}/${unsaved}`)
      return createElement('p', { 'data-testid': 'status' }, `${status}/${unsaved}`)
    }
    mount(app, createElement(Status))
    await screen.findByText('offline/0')
    app.yjs('status-doc').doc.getText('t').insert(0, 'x')
    await screen.findByText('offline/1')
    app.setOnline(true)
    await screen.findByText('saved/0', undefined, { timeout: 10_000 })
    expect(shown).toContain('offline/1')
    expect(shown.filter((s) => s.startsWith('saved')).every((s) => s === 'saved/0')).toBe(true)
    await app.close()
  })

  test('presence: others appear and leave', async () => {
    const { app, remote } = await clients()
    function People(): ReactNode {
      const { others } = usePresence<{ name: string }>(useYjsDoc('room', { suspense: true }))
      return createElement('p', null, `here: ${others.map((p) => p.state.name).join(',')}`)
    }
    mount(app, createElement(People))
    await screen.findByText('here:')
    const remoteDoc = remote.yjs('room')
    remoteDoc.awareness.setLocalState({ name: 'Bea' })
    await screen.findByText('here: Bea', undefined, { timeout: 10_000 })
    await remote.close()
    await screen.findByText('here:', undefined, { timeout: 10_000 })
    await app.close()
  })

  test('a new token given to the provider reaches the server on the live socket, and refused edits go through', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const [readOnly, canWrite] = [await token({ 'yjs:notes': 'read' }), await token({ 'yjs:notes': 'write' })]
    const app = client(server.url, { token: readOnly })
    function Status(): ReactNode {
      const { status, unsaved } = useSyncStatus(useYjsDoc('notes', { suspense: true }))
      return createElement('p', null, `${status}/${unsaved}`)
    }
    const view = (t: string): ReactNode => createElement(MurmurProvider, { client: app, token: t }, createElement(Suspense, { fallback: null }, createElement(Status)))
    const { rerender } = render(view(readOnly))
    await screen.findByText('saved/0', undefined, { timeout: 10_000 })
    const handle = app.yjs('notes')
    const refused = until(() => true, (cb) => handle.on('error', cb), 10_000, 'the refusal')
    handle.doc.getText('t').insert(0, 'needs write')
    await refused
    await screen.findByText('syncing/1')
    const opened = server.metrics.registry.getSingleMetric('murmur_connections_opened_total')
    const before = JSON.stringify(await opened?.get())

    rerender(view(canWrite))
    await screen.findByText('saved/0', undefined, { timeout: 10_000 })
    expect(JSON.stringify(await opened?.get())).toBe(before) // the same socket
    const live = await server.registry.get({ engine: 'yjs', docId: 'notes' as never })
    expect(live.doc.toJSON()).toEqual({ t: 'needs write' })
    await app.close()
  })

  test('useTokenRefresh asks the client for a fresh token while mounted, and stops when unmounted', async () => {
    const server = await startTestServer()
    const app = client(server.url, { offline: true })
    const refresh = vi.spyOn(app, 'refreshToken')
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    onTestFinished(() => {
      vi.useRealTimers()
    })
    function Refresher(): ReactNode {
      useTokenRefresh(60_000)
      return null
    }
    const { unmount } = render(createElement(MurmurProvider, { client: app }, createElement(Refresher)))
    vi.advanceTimersByTime(3 * 60_000)
    expect(refresh).toHaveBeenCalledTimes(3)
    unmount()
    vi.advanceTimersByTime(10 * 60_000)
    expect(refresh).toHaveBeenCalledTimes(3)
    await app.close()
  })
  test('useConnection shows the node the client is on, and the node it moves to when that one stops', async () => {
    const first = await startTestServer({ nodeId: 'node-first' })
    const second = await startTestServer({ nodeId: 'node-second' })
    // Two single nodes stand for two nodes of a cluster: the client starts on either.
    const app = client(first.url, { urls: [second.url], backoffInitialMs: 20, backoffMaxMs: 200 })
    onTestFinished(() => app.close())
    function Status(): ReactNode {
      const { state, nodeId, url } = useConnection()
      return createElement('p', null, `${state} ${nodeId ?? '-'} ${url}`)
    }
    mount(app, createElement(Status))
    const urlOf = (s: { url: string }) => `${s.url.replace('http', 'ws')}/sync`
    await until(() => app.state === 'open', (cb) => app.on('status', cb), 10_000, 'open')
    const [on, other] = app.nodeId === 'node-first' ? [first, second] : [second, first]
    await screen.findByText(`open ${app.nodeId} ${urlOf(on)}`)
    await on.close()
    const otherId = other === first ? 'node-first' : 'node-second'
    await screen.findByText(`open ${otherId} ${urlOf(other)}`, undefined, { timeout: 10_000 })
  })
})
