/**
 * Unmodified `@hocuspocus/provider` clients (4.x and the latest 3.x) against Murmur's Hocuspocus endpoint:
 * convergence, offline edits, many docs over one socket, read-only and refused tokens, durability across
 * kill -9, and a 3-node cluster.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { asDocId, getEngine } from '@murmur/shared'
import type { MurmurServer } from '../../server/dist/index.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import {
  PROVIDERS,
  authenticationFailed,
  hocuspocusUrl,
  nextStateless,
  untilAuthenticated,
  untilProviderSynced,
  type Provider,
} from '../support/hocuspocus.js'
import { freePort } from '../support/ports.js'
import { spawnNode, startTestServer, tempDir } from '../support/servers.js'
import { untilText } from '../support/ywebsocket.js'
import { until } from '../support/wait.js'

function append(p: Provider, text: string): void {
  const t = p.document.getText('body')
  t.insert(t.length, text)
}

/** The doc's text as storage holds it (snapshot and log), not as any memory holds it. */
async function storedText(server: MurmurServer, docId: string): Promise<string> {
  const key = { engine: 'yjs' as const, docId: asDocId(docId) }
  await server.registry.peek(key)?.whenDurable()
  const stored = await server.storage.load(key)
  if (stored === null) return ''
  const doc = getEngine('yjs').load(stored.snapshot, stored.updates)
  const text = (doc.toJSON() as Record<string, unknown>).body
  doc.destroy()
  return typeof text === 'string' ? text : ''
}

describe.each(PROVIDERS)('$name', (v) => {
  it('two providers converge on one doc, with awareness, stateless messages and acks', async () => {
    const server = await startTestServer()
    const url = hocuspocusUrl(server.url)
    const a = v.provider(url, 'shared')
    const b = v.provider(url, 'shared')
    await Promise.all([untilProviderSynced(a), untilProviderSynced(b)])
    expect(a.authorizedScope).toBe('read-write')

    append(a, 'hello from a. ')
    append(b, 'hello from b. ')
    const text = (): string => a.document.getText('body').toString()
    await until(() => text().length === 28 && text() === b.document.getText('body').toString(), (cb) => {
      a.document.on('update', cb)
      b.document.on('update', cb)
      return () => {
        a.document.off('update', cb)
        b.document.off('update', cb)
      }
    }, 20_000, 'both providers to converge')
    // Acked: the server answered every change with a sync status, once durable.
    await Promise.all([untilProviderSynced(a), untilProviderSynced(b)])
    expect(await storedText(server, 'shared')).toBe(text())

    a.awareness?.setLocalStateField('user', { name: 'Ada' })
    await until(
      () => [...(b.awareness?.getStates().values() ?? [])].some((s) => (s.user as { name?: string } | undefined)?.name === 'Ada'),
      (cb) => {
        b.awareness?.on('change', cb)
        return () => b.awareness?.off('change', cb)
      },
      20_000,
      "b to see a's presence",
    )

    const received = nextStateless(b)
    a.sendStateless('{"kind":"ping"}')
    expect(await received).toBe('{"kind":"ping"}')
  })

  it('a provider edits offline and reconnects: the edits reach the other provider and storage', async () => {
    const server = await startTestServer()
    const url = hocuspocusUrl(server.url)
    const socket = v.socket(url)
    const a = v.provider(url, 'offline', { websocketProvider: socket })
    const b = v.provider(url, 'offline')
    await Promise.all([untilProviderSynced(a), untilProviderSynced(b)])

    socket.disconnect()
    await until(() => socket.status === 'disconnected', (cb) => {
      socket.on('status', cb)
      return () => socket.off('status', cb)
    }, 10_000, 'the socket to close')
    append(a, 'written offline. ')
    append(b, 'written online. ')
    await untilProviderSynced(b)
    expect(b.document.getText('body').toString()).toBe('written online. ')

    void socket.connect()
    const both = a.document.getText('body').toString().length + 'written online. '.length
    await until(() => b.document.getText('body').length === both && a.document.getText('body').length === both, (cb) => {
      a.document.on('update', cb)
      b.document.on('update', cb)
      return () => {
        a.document.off('update', cb)
        b.document.off('update', cb)
      }
    }, 20_000, 'the offline edit to reach b')
    expect(a.document.getText('body').toString()).toBe(b.document.getText('body').toString())
    await untilProviderSynced(a)
    expect(await storedText(server, 'offline')).toBe(b.document.getText('body').toString())
  })

  it('ten docs over one shared socket, each its own doc', async () => {
    const server = await startTestServer()
    const url = hocuspocusUrl(server.url)
    const writerSocket = v.socket(url)
    const writers = Array.from({ length: 10 }, (_, i) => v.provider(url, `room-${i}`, { websocketProvider: writerSocket }))
    await Promise.all(writers.map((p) => untilProviderSynced(p)))
    expect(server.socketCount).toBe(1)
    writers.forEach((p, i) => append(p, `text of room ${i}`))
    await Promise.all(writers.map((p) => untilProviderSynced(p)))

    const readerSocket = v.socket(url)
    const readers = Array.from({ length: 10 }, (_, i) => v.provider(url, `room-${i}`, { websocketProvider: readerSocket }))
    await Promise.all(readers.map((p, i) => untilText(p.document, 'body', `text of room ${i}`)))
    expect(server.socketCount).toBe(2)
    for (let i = 0; i < 10; i++) expect(await storedText(server, `room-${i}`)).toBe(`text of room ${i}`)
  })

  it("a read-only token's edits never reach other clients or storage", async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const url = hocuspocusUrl(server.url)
    const writer = v.provider(url, 'notes', { token: await token({ notes: 'write' }) })
    const reader = v.provider(url, 'notes', { token: await token({ notes: 'read' }) })
    await Promise.all([untilProviderSynced(writer), untilAuthenticated(reader)])
    expect(writer.authorizedScope).toBe('read-write')
    expect(reader.authorizedScope).toBe('readonly')
    append(writer, 'by the writer. ')
    await untilText(reader.document, 'body', 'by the writer. ')

    append(reader, 'by the reader. ')
    // Messages of one socket are handled in order: once the writer has this, the reader's edit was handled.
    const marker = nextStateless(writer)
    reader.sendStateless('after the edit')
    expect(await marker).toBe('after the edit')
    expect(writer.document.getText('body').toString()).toBe('by the writer. ')
    expect(reader.hasUnsyncedChanges).toBe(true)
    expect(await storedText(server, 'notes')).toBe('by the writer. ')

    // The reader goes on reading.
    append(writer, 'more. ')
    await untilProviderSynced(writer)
    await until(() => reader.document.getText('body').toString().includes('more. '), (cb) => {
      reader.document.on('update', cb)
      return () => reader.document.off('update', cb)
    }, 20_000, 'the reader to keep receiving')
    const fresh = v.provider(url, 'notes', { token: await token({ notes: 'read' }) })
    await untilText(fresh.document, 'body', 'by the writer. more. ')
  })

  it('a bad token is refused with permission-denied, and the socket serves its other docs', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const url = hocuspocusUrl(server.url)
    const tokens = {
      good: await token({ allowed: 'write' }),
      forged: await token({ forged: 'write' }, { secret: 'another-secret-of-at-least-thirty-two-bytes' }),
      expired: await token({ expired: 'write' }, { expiresIn: -60 }),
    }
    const socket = v.socket(url)
    const good = v.provider(url, 'allowed', { websocketProvider: socket, token: tokens.good })
    const forged = v.provider(url, 'forged', { websocketProvider: socket, token: tokens.forged })
    const none = v.provider(url, 'none', { websocketProvider: socket })
    const otherDoc = v.provider(url, 'secret', { websocketProvider: socket, token: tokens.good })
    const expired = v.provider(url, 'expired', { websocketProvider: socket, token: tokens.expired })
    const reasons = await Promise.all([forged, none, otherDoc, expired].map((p) => authenticationFailed(p)))
    expect(reasons).toEqual(['permission-denied', 'permission-denied', 'permission-denied', 'permission-denied'])
    for (const p of [forged, none, otherDoc, expired]) expect(p.isAuthenticated).toBe(false)

    await untilProviderSynced(good)
    append(good, 'still served')
    await untilProviderSynced(good)
    expect(server.socketCount).toBe(1)
    append(forged, 'never stored')
    expect(await storedText(server, 'allowed')).toBe('still served')
    expect(await server.storage.load({ engine: 'yjs', docId: asDocId('forged') })).toBeNull()
  })

  it('kill -9 and restart: every acknowledged edit is there, and the provider reconnects by itself', async () => {
    const dataDir = tempDir()
    const port = await freePort()
    const node = await spawnNode(['--port', String(port), '--data-dir', dataDir])
    const url = hocuspocusUrl(node.url)
    const writer = v.provider(url, 'durable')
    await untilProviderSynced(writer)
    for (let round = 0; round < 5; round++) {
      append(writer, `round ${round}; `)
      // No unsynced changes: the server acknowledged every edit, which it does once they are durable.
      await untilProviderSynced(writer)
    }
    const acknowledged = writer.document.getText('body').toString()
    await node.kill('SIGKILL')
    await until(() => !writer.isSynced, (cb) => {
      writer.on('disconnect', cb)
      return () => writer.off('disconnect', cb)
    }, 10_000, 'the provider to notice')

    await spawnNode(['--port', String(port), '--data-dir', dataDir])
    const reader = v.provider(url, 'durable', { document: new Y.Doc() })
    await untilText(reader.document, 'body', acknowledged)
    // The writer reconnects after the restart and syncs again.
    append(writer, 'after the restart')
    await untilProviderSynced(writer, 30_000)
    await untilText(reader.document, 'body', `${acknowledged}after the restart`)
  })

  it('through a 3-node cluster: providers on different nodes converge, stateless messages cross nodes', async () => {
    const nodes = await startCluster(3)
    await untilMeshed(nodes)
    const providers = nodes.map((n) => v.provider(hocuspocusUrl(n.url), 'clustered'))
    await Promise.all(providers.map((p) => untilProviderSynced(p)))
    providers.forEach((p, i) => append(p, `[node ${i}]`))
    await Promise.all(providers.map((p) => untilProviderSynced(p)))
    const expected = providers[0].document.getText('body').toString()
    await until(
      () => providers.every((p) => p.document.getText('body').length === 24) && providers.every((p) => p.document.getText('body').toString() === providers[0].document.getText('body').toString()),
      (cb) => {
        providers.forEach((p) => p.document.on('update', cb))
        return () => providers.forEach((p) => p.document.off('update', cb))
      },
      30_000,
      'all three providers to converge',
    )
    for (let i = 0; i < 3; i++) expect(providers[0].document.getText('body').toString()).toContain(`[node ${i}]`)
    expect(expected.length).toBeGreaterThan(0)

    const onB = nextStateless(providers[1])
    const onC = nextStateless(providers[2])
    providers[0].sendStateless('across the cluster')
    expect(await Promise.all([onB, onC])).toEqual(['across the cluster', 'across the cluster'])
  })
})

describe('Hocuspocus endpoint edges', () => {
  it("4.x sessionAwareness: two providers of one doc share a socket, each answered at its own address", async () => {
    const server = await startTestServer()
    const url = hocuspocusUrl(server.url)
    const v = PROVIDERS[0]
    const socket = v.socket(url)
    const a = v.provider(url, 'twice', { websocketProvider: socket, settings: { sessionAwareness: true } })
    const b = v.provider(url, 'twice', { websocketProvider: socket, settings: { sessionAwareness: true } })
    await Promise.all([untilProviderSynced(a), untilProviderSynced(b)])
    append(a, 'one socket, ')
    await untilText(b.document, 'body', 'one socket, ')
    append(b, 'two sessions')
    await untilText(a.document, 'body', 'one socket, two sessions')
    await Promise.all([untilProviderSynced(a), untilProviderSynced(b)])
    expect(server.socketCount).toBe(1)
    expect(await storedText(server, 'twice')).toBe('one socket, two sessions')
  })

  it('a token refresh that takes the write right away makes the document read-only at once', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const url = hocuspocusUrl(server.url)
    let current = await token({ notes: 'write' })
    const p = PROVIDERS[0].provider(url, 'notes', { settings: { token: () => current } })
    await untilProviderSynced(p)
    expect(p.authorizedScope).toBe('read-write')
    append(p, 'written. ')
    await untilProviderSynced(p)
    current = await token({ notes: 'read' })
    // What a provider does when its app asks it to send its (new) token.
    ;(p as unknown as { sendToken(): Promise<void> }).sendToken()
    await until(() => p.authorizedScope === 'readonly', (cb) => {
      p.on('authenticated', cb)
      return () => p.off('authenticated', cb)
    }, 20_000, 'the readonly scope')
    append(p, 'refused. ')
    const other = PROVIDERS[0].provider(url, 'notes', { token: await token({ notes: 'write' }) })
    const marker = nextStateless(other)
    await untilProviderSynced(other)
    p.sendStateless('after the refused edit')
    expect(await marker).toBe('after the refused edit')
    expect(await storedText(server, 'notes')).toBe('written. ')
    expect(other.document.getText('body').toString()).toBe('written. ')
  })

  it.each(PROVIDERS)('idle sockets get a keep-alive that $name accepts, so it never reconnects', async (v) => {
    const server = await startTestServer({ keepAliveMs: 200 })
    const url = hocuspocusUrl(server.url)
    // The provider gives up on a socket after this long without a message (30 s by default).
    const socket = v.socket(url, { messageReconnectTimeout: 1000 })
    const p = v.provider(url, 'quiet', { websocketProvider: socket })
    await untilProviderSynced(p)
    let disconnects = 0
    socket.on('disconnect', () => disconnects++)
    let keepAlives = 0
    await until(() => keepAlives >= 8, (cb) => {
      const fn = ((e: { data: ArrayBuffer }) => {
        // The keep-alive is addressed to no document: its first byte is the empty name's length.
        if (new Uint8Array(e.data)[0] === 0) keepAlives++
        cb()
      }) as never
      socket.on('message', fn)
      return () => socket.off('message', fn)
    }, 20_000, 'eight keep-alives')
    expect(disconnects).toBe(0)
    expect(socket.status).toBe('connected')
  })

  it('malformed and unknown messages close the socket with 4400; the node serves on', async () => {
    const server = await startTestServer()
    const closeOf = async (frame: Uint8Array): Promise<{ code: number; reason: string }> => {
      const ws = new WebSocket(hocuspocusUrl(server.url))
      await new Promise((resolve) => ws.once('open', resolve))
      ws.send(frame)
      return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    }
    const truncated = await closeOf(Uint8Array.of(0xff))
    expect(truncated.code).toBe(4400)
    expect(truncated.reason).toMatch(/^MUR_ERR_MALFORMED_MESSAGE/u)
    // "doc" (3 bytes), then message type 42.
    const unknown = await closeOf(Uint8Array.of(3, 100, 111, 99, 42))
    expect(unknown.code).toBe(4400)
    expect(unknown.reason).toMatch(/^MUR_ERR_UNKNOWN_MESSAGE/u)
    const p = PROVIDERS[0].provider(hocuspocusUrl(server.url), 'after-garbage')
    await untilProviderSynced(p)
  })

  it('a deleted doc ends its document connection with a close message naming the code', async () => {
    const server = await startTestServer()
    const url = hocuspocusUrl(server.url)
    const p = PROVIDERS[0].provider(url, 'gone')
    await untilProviderSynced(p)
    append(p, 'soon gone')
    await untilProviderSynced(p)
    const closed = new Promise<string>((resolve) => p.on('close', ((e: { event: { reason: string } }) => resolve(e.event.reason)) as never))
    const res = await fetch(`${server.url}/v1/docs/yjs/gone`, { method: 'DELETE' })
    expect(res.status).toBeLessThan(300)
    expect(await closed).toMatch(/MUR_ERR_DOC_DELETED/u)
  })
})

describe('Hocuspocus endpoint path', () => {
  it('is configurable, and the default path is then free', async () => {
    const server = await startTestServer({ hocuspocusPath: '/collab' })
    const p = PROVIDERS[0].provider(hocuspocusUrl(server.url, '/collab'), 'moved')
    await untilProviderSynced(p)
    const ws = new WebSocket(hocuspocusUrl(server.url))
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
    expect(status).toBe(404)
  })
})
