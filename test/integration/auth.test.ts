/**
 * The same auth rules on every endpoint: no token, a forged token, an expired token, a token for another
 * doc, and a read-only token trying every write path are refused with the right code, and the doc is
 * unchanged.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import { Encoder, decode } from 'cbor-x'
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { WebsocketProvider } from 'y-websocket'
import {
  MessageType,
  YSyncMessage,
  asDocId,
  decodeMessage,
  decodeYSyncMessage,
  encodeMessage,
  encodeYSyncMessage,
  type EngineName,
  type Message,
} from '@murmur/shared'
import type { MurmurServer } from '../../server/dist/index.js'
import { startServer } from '../../server/dist/index.js'
import { AUTH_SECRET, token, type Rights } from '../support/auth.js'
import { startTestServer, wsUrl } from '../support/servers.js'
import { until, within } from '../support/wait.js'

const SECRET_ELSEWHERE = 'another-secret-that-is-long-enough-to-sign!!'

async function authServer(): Promise<MurmurServer> {
  return startTestServer({ authSecret: AUTH_SECRET })
}

/** Content and version of a doc as the node holds it. */
async function snapshot(server: MurmurServer, engine: EngineName, docId: string): Promise<{ version: string; content: unknown }> {
  const live = await server.registry.get({ engine, docId: asDocId(docId) })
  return { version: live.doc.version(), content: live.doc.toJSON() }
}

/** A Yjs doc on the node with the text "hello" in `t`. */
async function seedYjs(server: MurmurServer, docId: string): Promise<void> {
  const d = new Y.Doc()
  d.getText('t').insert(0, 'hello')
  const live = await server.registry.get({ engine: 'yjs', docId: asDocId(docId) })
  await live.apply(Y.encodeStateAsUpdate(d), { from: null })
}

/** An Automerge doc on the node holding `{ title: 'board' }`. */
async function seedAutomerge(server: MurmurServer, docId: string): Promise<void> {
  const live = await server.registry.get({ engine: 'automerge', docId: asDocId(docId) })
  await live.apply(A.save(A.from({ title: 'board' })), { from: null })
}

/** A Yjs update that writes "evil" into `t`. */
function evilUpdate(): Uint8Array {
  const d = new Y.Doc()
  d.getText('t').insert(0, 'evil')
  return Y.encodeStateAsUpdate(d)
}

/** A WebSocket that records its frames and how it closed. */
function recorder<T>(ws: WebSocket, decodeFrame: (data: Buffer) => T) {
  ws.on('error', () => undefined)
  const received: T[] = []
  const listeners = new Set<() => void>()
  ws.on('message', (data: Buffer) => {
    received.push(decodeFrame(data))
    for (const l of listeners) l()
  })
  onTestFinished(() => ws.terminate())
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const next = (pred: (m: T) => boolean, what: string): Promise<T> =>
    within(
      new Promise<T>((resolve) => {
        const check = (): void => {
          const m = received.find(pred)
          if (m !== undefined) resolve(m)
        }
        listeners.add(check)
        check()
      }),
      10_000,
      what,
    )
  return { ws, received, opened, closed, next }
}

function rawSync(server: MurmurServer) {
  const r = recorder(new WebSocket(wsUrl(server.url, '/sync')), (d) => decodeMessage(new Uint8Array(d)))
  const send = (m: Message): void => r.ws.send(encodeMessage(m))
  const hello = (t: string): void => send({ type: MessageType.hello, major: 1, minor: 0, token: t, client: 'auth-test' })
  const errorOf = (ref: number, code: string) =>
    r.next((m) => m.type === MessageType.error && m.ref === ref && m.code === code, `${code} for ref ${ref}`) as Promise<Extract<Message, { type: 9 }>>
  return { ...r, send, hello, errorOf }
}

function rawYjs(server: MurmurServer, docId: string, query = '', headers: Record<string, string> = {}) {
  return recorder(new WebSocket(wsUrl(server.url, `/yjs/${docId}${query}`), { headers }), (d) => new Uint8Array(d))
}

const cbor = new Encoder({ tagUint8Array: false, useRecords: false })

function rawRepo(server: MurmurServer, query = '') {
  const r = recorder(new WebSocket(wsUrl(server.url, `/automerge${query}`)), (d) => decode(d) as Record<string, unknown>)
  const send = (m: Record<string, unknown>): void => r.ws.send(cbor.encode(m))
  const join = (): void => send({ type: 'join', senderId: 'auth-peer', peerMetadata: { isEphemeral: true }, supportedProtocolVersions: ['1'] })
  return { ...r, send, join }
}

/** Every way to present a token that must be refused, with the error it must get. */
async function badTokens(docId: string, engine: EngineName): Promise<[string, string, RegExp][]> {
  return [
    ['no token', '', /token is required/u],
    ['a forged token', await token({ [`${engine}:${docId}`]: 'write' }, { secret: SECRET_ELSEWHERE }), /invalid token/u],
    ['an expired token', await token({ [`${engine}:${docId}`]: 'write' }, { expiresIn: -30 }), /expired/u],
    ['garbage', 'not.a.jwt', /invalid token/u],
  ]
}

describe('auth configuration', () => {
  it('a node with neither token keys nor --anonymous refuses to start, with a message that says what to do', async () => {
    await expect(startServer({ port: 0, storage: 'memory', logLevel: 'silent' })).rejects.toThrow(/--auth-secret.*--anonymous/su)
    await expect(startServer({ port: 0, storage: 'memory', logLevel: 'silent', authSecret: 'short' })).rejects.toThrow(/at least 32 bytes/u)
  })

  it('--anonymous with a secret: no token is anonymous, but a bad token is still refused', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET, anonymous: true })
    const ok = rawSync(server)
    await ok.opened
    ok.hello('')
    await ok.next((m) => m.type === MessageType.welcome, 'welcome')
    const bad = rawSync(server)
    await bad.opened
    bad.hello(await token({ '*': 'write' }, { secret: SECRET_ELSEWHERE }))
    expect((await within(bad.closed, 10_000, 'close')).code).toBe(4401)
  })
})

describe('/sync', () => {
  it('refuses no token, forged, expired and garbage tokens with UNAUTHORIZED and 4401', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    for (const [name, t, message] of await badTokens('notes', 'yjs')) {
      const s = rawSync(server)
      await s.opened
      s.hello(t)
      const err = await s.errorOf(0, 'MUR_ERR_UNAUTHORIZED')
      expect(err.message, name).toMatch(message)
      const closed = await within(s.closed, 10_000, `close after ${name}`)
      expect(closed.code, name).toBe(4401)
      expect(closed.reason).toContain('MUR_ERR_UNAUTHORIZED')
      expect(s.received.some((m) => m.type === MessageType.welcome), name).toBe(false)
    }
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
  })

  it('takes the upgrade’s token when hello carries none', async () => {
    const server = await authServer()
    const r = recorder(new WebSocket(`${wsUrl(server.url, '/sync')}?token=${await token({ 'yjs:x': 'read' })}`), (d) => decodeMessage(new Uint8Array(d)))
    await r.opened
    r.ws.send(encodeMessage({ type: MessageType.hello, major: 1, minor: 0, token: '', client: 'query-token' }))
    await r.next((m) => m.type === MessageType.welcome, 'welcome')
    r.ws.send(encodeMessage({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'y' }))
    await r.next((m) => m.type === MessageType.error && m.code === 'MUR_ERR_FORBIDDEN', 'the token’s rights applied')
  })

  it('a token for another doc cannot open this one; the connection goes on for the docs it may use', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    const s = rawSync(server)
    await s.opened
    s.hello(await token({ 'yjs:notes-*': 'write', 'automerge:notes': 'write' }))
    await s.next((m) => m.type === MessageType.welcome, 'welcome')
    s.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'notes' })
    expect((await s.errorOf(1, 'MUR_ERR_FORBIDDEN')).message).toMatch(/reading yjs:notes/u)
    // Nothing is bound to the ref: writes to it are not taken.
    s.send({ type: MessageType.update, ref: 1, id: 'u1', replicas: 0, payload: evilUpdate() })
    await s.errorOf(1, 'MUR_ERR_UNKNOWN_DOC_REF')
    // A doc the token does allow opens on the same socket.
    s.send({ type: MessageType.open, ref: 2, engine: 'yjs', docId: 'notes-2' })
    await s.next((m) => m.type === MessageType.sync && m.ref === 2, 'sync for the allowed doc')
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
  })

  it('a read-only token reads, but every write path (update, SyncStep2, sync update) is refused and the doc is unchanged', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    const s = rawSync(server)
    await s.opened
    s.hello(await token({ 'yjs:notes': 'read' }))
    await s.next((m) => m.type === MessageType.welcome, 'welcome')
    s.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'notes' })
    // Reading works: our SyncStep1 is answered with the content.
    s.send({ type: MessageType.sync, ref: 1, payload: encodeYSyncMessage(YSyncMessage.step1, Y.encodeStateVector(new Y.Doc())) })
    const step2 = (await s.next((m) => m.type === MessageType.sync && m.payload[0] === YSyncMessage.step2, 'step2')) as Extract<Message, { type: 5 }>
    const local = new Y.Doc()
    Y.applyUpdate(local, decodeYSyncMessage(step2.payload).payload)
    expect(local.getText('t').toString()).toBe('hello')

    s.send({ type: MessageType.update, ref: 1, id: 'u1', replicas: 0, payload: evilUpdate() })
    expect((await s.errorOf(1, 'MUR_ERR_FORBIDDEN')).updateId).toBe('u1')
    s.send({ type: MessageType.sync, ref: 1, payload: encodeYSyncMessage(YSyncMessage.step2, evilUpdate()) })
    s.send({ type: MessageType.sync, ref: 1, payload: encodeYSyncMessage(YSyncMessage.update, evilUpdate()) })
    await until(
      () => s.received.filter((m) => m.type === MessageType.error && m.code === 'MUR_ERR_FORBIDDEN').length === 3,
      (cb) => {
        s.ws.on('message', cb)
        return () => s.ws.off('message', cb)
      },
      10_000,
      'three refusals',
    )
    // Presence is not a write: it is relayed. And the socket is still served.
    s.send({ type: MessageType.ping, nonce: 7 })
    await s.next((m) => m.type === MessageType.pong && m.nonce === 7, 'pong')
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
    expect((await server.storage.load({ engine: 'yjs', docId: asDocId('notes') }))?.updates).toHaveLength(1)
  })

  it('a read-only token cannot change an Automerge doc through sync messages', async () => {
    const server = await authServer()
    await seedAutomerge(server, 'board')
    const before = await snapshot(server, 'automerge', 'board')
    const s = rawSync(server)
    await s.opened
    s.hello(await token({ 'automerge:board': 'read' }))
    await s.next((m) => m.type === MessageType.welcome, 'welcome')
    s.send({ type: MessageType.open, ref: 1, engine: 'automerge', docId: 'board' })
    // Run Automerge's sync protocol with a doc that has a change the server lacks, until refused.
    let local = A.change(A.init<{ title?: string }>(), (d) => {
      d.title = 'defaced'
    })
    let state = A.initSyncState()
    const pump = (): void => {
      const [next, message] = A.generateSyncMessage(local, state)
      state = next
      if (message !== null) s.send({ type: MessageType.sync, ref: 1, payload: message })
    }
    s.ws.on('message', (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data))
      if (m.type !== MessageType.sync) return
      ;[local, state] = A.receiveSyncMessage(local, state, m.payload)
      pump()
    })
    pump()
    await s.errorOf(1, 'MUR_ERR_FORBIDDEN')
    s.send({ type: MessageType.update, ref: 1, id: 'u2', replicas: 0, payload: A.save(local) })
    await s.next((m) => m.type === MessageType.error && m.code === 'MUR_ERR_FORBIDDEN' && m.updateId === 'u2', 'the update refused')
    expect(await snapshot(server, 'automerge', 'board')).toEqual(before)
  })

  it('closes a live socket with 4401 when its token expires', async () => {
    const server = await authServer()
    const s = rawSync(server)
    await s.opened
    s.hello(await token({ '*': 'write' }, { expiresIn: 2 }))
    await s.next((m) => m.type === MessageType.welcome, 'welcome')
    const closed = await within(s.closed, 10_000, 'the close at expiry')
    expect(closed.code).toBe(4401)
    expect(closed.reason).toMatch(/expired/u)
  })

  it('auth on the live socket replaces the token: new rights at once, and the old expiry no longer applies', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const s = rawSync(server)
    await s.opened
    const shortLived = await token({ 'yjs:notes': 'read' }, { expiresIn: 2 })
    const expiresAt = JSON.parse(Buffer.from(shortLived.split('.')[1], 'base64url').toString()).exp * 1000
    s.hello(shortLived)
    await s.next((m) => m.type === MessageType.welcome, 'welcome')
    s.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'notes' })
    s.send({ type: MessageType.update, ref: 1, id: 'before', replicas: 0, payload: evilUpdate() })
    await s.errorOf(1, 'MUR_ERR_FORBIDDEN')

    s.send({ type: MessageType.auth, token: await token({ 'yjs:notes': 'write' }) })
    s.send({ type: MessageType.update, ref: 1, id: 'after', replicas: 0, payload: evilUpdate() })
    await s.next((m) => m.type === MessageType.ack && m.ids.includes('after'), 'the ack of the write the new token allows')
    expect((await snapshot(server, 'yjs', 'notes')).content).toEqual({ t: expect.stringContaining('evil') })

    // Past the first token's expiry the socket is still served (pings answered until then and after).
    let nonce = 100
    while (Date.now() < expiresAt + 500) {
      s.send({ type: MessageType.ping, nonce: ++nonce })
      const n = nonce
      await s.next((m) => m.type === MessageType.pong && m.nonce === n, 'pong')
    }
    expect(s.ws.readyState).toBe(WebSocket.OPEN)

    // A bad token in auth ends the connection.
    s.send({ type: MessageType.auth, token: 'forged' })
    expect((await within(s.closed, 10_000, 'close')).code).toBe(4401)
  })

  it('a refreshed token that no longer allows a doc closes that doc', async () => {
    const server = await authServer()
    const s = rawSync(server)
    await s.opened
    s.hello(await token({ 'yjs:a': 'write', 'yjs:b': 'write' }))
    await s.next((m) => m.type === MessageType.welcome, 'welcome')
    s.send({ type: MessageType.open, ref: 1, engine: 'yjs', docId: 'a' })
    s.send({ type: MessageType.open, ref: 2, engine: 'yjs', docId: 'b' })
    await s.next((m) => m.type === MessageType.sync && m.ref === 2, 'b open')
    s.send({ type: MessageType.auth, token: await token({ 'yjs:a': 'write' }) })
    expect((await s.errorOf(2, 'MUR_ERR_FORBIDDEN')).message).toMatch(/closed/u)
    s.send({ type: MessageType.update, ref: 2, id: 'x', replicas: 0, payload: evilUpdate() })
    await s.errorOf(2, 'MUR_ERR_UNKNOWN_DOC_REF')
  })
})

describe('/yjs/<doc>', () => {
  it('refuses no token, forged, expired and garbage tokens with 4401, and a token for another doc with 4403', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    for (const [name, t] of await badTokens('notes', 'yjs')) {
      const s = rawYjs(server, 'notes', t === '' ? '' : `?token=${encodeURIComponent(t)}`)
      const closed = await within(s.closed, 10_000, `close after ${name}`)
      expect(closed.code, name).toBe(4401)
      expect(closed.reason).toContain('MUR_ERR_UNAUTHORIZED')
      expect(s.received, name).toEqual([])
    }
    const other = rawYjs(server, 'notes', `?token=${await token({ 'yjs:other': 'write', 'automerge:notes': 'write' })}`)
    const closed = await within(other.closed, 10_000, 'close')
    expect(closed.code).toBe(4403)
    expect(closed.reason).toContain('MUR_ERR_FORBIDDEN')
    expect(other.received).toEqual([])
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
  })

  it('a read-only token syncs the content through an unmodified WebsocketProvider', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(wsUrl(server.url, '/yjs'), 'notes', doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
      params: { token: await token({ 'yjs:notes': 'read' }) },
    })
    onTestFinished(() => provider.destroy())
    await until(() => doc.getText('t').toString() === 'hello', (cb) => {
      doc.on('update', cb)
      return () => doc.off('update', cb)
    }, 10_000, 'the content')
  })

  it.each([
    ['SyncStep2', YSyncMessage.step2],
    ['an update', YSyncMessage.update],
  ])('a read-only token sending %s with changes is closed with 4403 and the doc is unchanged', async (_name, type) => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    // The token in the Authorization header works as well as in the query.
    const s = rawYjs(server, 'notes', '', { authorization: `Bearer ${await token({ 'yjs:notes': 'read' })}` })
    await s.next(() => true, 'the server’s first frame')
    const frame = new Uint8Array([0, ...encodeYSyncMessage(type, evilUpdate())])
    s.ws.send(frame)
    const closed = await within(s.closed, 10_000, 'close')
    expect(closed.code).toBe(4403)
    expect(closed.reason).toContain('MUR_ERR_FORBIDDEN')
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
  })

  it('closes a live socket with 4401 when its token expires', async () => {
    const server = await authServer()
    const s = rawYjs(server, 'notes', `?token=${await token({ '*': 'write' }, { expiresIn: 2 })}`)
    await s.next(() => true, 'the server’s first frame')
    expect((await within(s.closed, 10_000, 'close at expiry')).code).toBe(4401)
  })
})

describe('/automerge', () => {
  it('refuses no token, forged, expired and garbage tokens with 4401', async () => {
    const server = await authServer()
    await seedAutomerge(server, 'board')
    const before = await snapshot(server, 'automerge', 'board')
    for (const [name, t] of await badTokens('board', 'automerge')) {
      const s = rawRepo(server, t === '' ? '' : `?token=${encodeURIComponent(t)}`)
      const closed = await within(s.closed, 10_000, `close after ${name}`)
      expect(closed.code, name).toBe(4401)
    }
    expect(await snapshot(server, 'automerge', 'board')).toEqual(before)
  })

  it('a token for another doc: asking for this one closes the socket with 4403', async () => {
    const server = await authServer()
    await seedAutomerge(server, 'board')
    const s = rawRepo(server, `?token=${await token({ 'automerge:other': 'write', 'yjs:board': 'write' })}`)
    await s.opened
    s.join()
    await s.next((m) => m.type === 'peer', 'peer')
    const [, message] = A.generateSyncMessage(A.init(), A.initSyncState())
    s.send({ type: 'request', senderId: 'auth-peer', targetId: 'x', documentId: 'board', data: message })
    const closed = await within(s.closed, 10_000, 'close')
    expect(closed.code).toBe(4403)
    expect(s.received.some((m) => m.type === 'sync' || m.type === 'doc-unavailable')).toBe(false)
  })

  it('a read-only token: reads the doc, but a sync message with changes closes the socket with 4403; the doc is unchanged', async () => {
    const server = await authServer()
    await seedAutomerge(server, 'board')
    const before = await snapshot(server, 'automerge', 'board')
    const s = rawRepo(server, `?token=${await token({ 'automerge:board': 'read' })}`)
    await s.opened
    s.join()
    await s.next((m) => m.type === 'peer', 'peer')
    let local = A.init<{ title?: string; evil?: boolean }>()
    let state = A.initSyncState()
    const pump = (type: 'request' | 'sync'): void => {
      const [next, message] = A.generateSyncMessage(local, state)
      state = next
      if (message !== null) s.send({ type, senderId: 'auth-peer', targetId: 'x', documentId: 'board', data: message })
    }
    s.ws.on('message', (data: Buffer) => {
      const m = decode(data) as { type: string; data?: Uint8Array }
      if (m.type !== 'sync' || m.data === undefined) return
      ;[local, state] = A.receiveSyncMessage(local, state, m.data)
      pump('sync')
    })
    pump('request')
    // Reading works: the server's changes arrive.
    await until(() => local.title === 'board', (cb) => {
      s.ws.on('message', cb)
      return () => s.ws.off('message', cb)
    }, 10_000, 'the content')
    // Now a local change: the next sync message carries it, and is refused.
    local = A.change(local, (d) => {
      d.evil = true
    })
    pump('sync')
    const closed = await within(s.closed, 10_000, 'close')
    expect(closed.code).toBe(4403)
    expect(closed.reason).toContain('MUR_ERR_FORBIDDEN')
    expect(await snapshot(server, 'automerge', 'board')).toEqual(before)
  })

  it('an unmodified automerge-repo client authenticates with ?token= in its URL', async () => {
    const server = await authServer()
    const t = await token({ 'automerge:*': 'write' })
    const repo = new Repo({ network: [new WebSocketClientAdapter(`${wsUrl(server.url, '/automerge')}?token=${t}`, 200)] })
    onTestFinished(() => repo.shutdown())
    const handle = repo.create<{ title: string }>({ title: 'with a token' })
    await until(() => server.registry.peek({ engine: 'automerge', docId: asDocId(handle.documentId) }) !== undefined, (cb) => {
      server.registry.on('load', cb)
      return () => server.registry.off('load', cb)
    }, 10_000, 'the doc on the server')
    const live = await server.registry.get({ engine: 'automerge', docId: asDocId(handle.documentId as DocumentId) })
    await until(() => (live.doc.toJSON() as { title?: string }).title === 'with a token', (cb) => live.doc.onUpdate(cb), 10_000, 'the content')
  })
})

describe('HTTP API', () => {
  const auth = (t: string): Record<string, string> => (t === '' ? {} : { authorization: `Bearer ${t}` })

  it('refuses no token, forged, expired and garbage tokens with 401 on every route', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    for (const [name, t] of await badTokens('notes', 'yjs')) {
      for (const [method, url] of [
        ['GET', '/v1/docs'],
        ['GET', '/v1/docs/yjs/notes'],
        ['GET', '/v1/docs/yjs/notes/state'],
        ['GET', '/v1/docs/yjs/notes/history'],
        ['GET', '/v1/docs/yjs/notes/history/1'],
        ['POST', '/v1/docs/yjs/notes/updates'],
        ['DELETE', '/v1/docs/yjs/notes'],
        ['GET', '/v1/cluster'],
      ] as const) {
        const res = await server.http.inject({ method, url, headers: { ...auth(t), 'content-type': 'application/octet-stream' }, payload: method === 'POST' ? Buffer.from(evilUpdate()) : undefined })
        expect(res.statusCode, `${name} ${method} ${url}`).toBe(401)
        expect(res.json().code).toBe('MUR_ERR_UNAUTHORIZED')
        expect(res.headers['www-authenticate']).toBe('Bearer')
      }
    }
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
  })

  it('a token for another doc gets 403 on every route of this doc; the listing hides the doc', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    await seedYjs(server, 'other')
    const before = await snapshot(server, 'yjs', 'notes')
    const t = await token({ 'yjs:other': 'write', 'automerge:notes': 'write' })
    for (const [method, url] of [
      ['GET', '/v1/docs/yjs/notes'],
      ['GET', '/v1/docs/yjs/notes/state'],
      ['GET', '/v1/docs/yjs/notes/history'],
      ['GET', '/v1/docs/yjs/notes/history/1'],
      ['POST', '/v1/docs/yjs/notes/updates'],
      ['DELETE', '/v1/docs/yjs/notes'],
    ] as const) {
      const res = await server.http.inject({ method, url, headers: { ...auth(t), 'content-type': 'application/octet-stream' }, payload: method === 'POST' ? Buffer.from(evilUpdate()) : undefined })
      expect(res.statusCode, `${method} ${url}`).toBe(403)
      expect(res.json().code).toBe('MUR_ERR_FORBIDDEN')
    }
    const list = await server.http.inject({ url: '/v1/docs', headers: auth(t) })
    expect(list.json().docs).toEqual([{ engine: 'yjs', docId: 'other' }])
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
  })

  it('a read-only token reads everything, and both write routes (apply an update, delete) get 403; the doc is unchanged', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const before = await snapshot(server, 'yjs', 'notes')
    const t = await token({ 'yjs:notes': 'read' })
    expect((await server.http.inject({ url: '/v1/docs/yjs/notes', headers: auth(t) })).json().content).toEqual({ t: 'hello' })
    expect((await server.http.inject({ url: '/v1/docs/yjs/notes/state', headers: auth(t) })).statusCode).toBe(200)
    expect((await server.http.inject({ url: '/v1/docs/yjs/notes/history', headers: auth(t) })).statusCode).toBe(200)
    const post = await server.http.inject({
      method: 'POST',
      url: '/v1/docs/yjs/notes/updates',
      headers: { ...auth(t), 'content-type': 'application/octet-stream' },
      payload: Buffer.from(evilUpdate()),
    })
    expect(post.statusCode).toBe(403)
    expect(post.json()).toMatchObject({ code: 'MUR_ERR_FORBIDDEN' })
    const del = await server.http.inject({ method: 'DELETE', url: '/v1/docs/yjs/notes', headers: auth(t) })
    expect(del.statusCode).toBe(403)
    expect(await snapshot(server, 'yjs', 'notes')).toEqual(before)
    expect(await server.storage.tombstoneOf({ engine: 'yjs', docId: asDocId('notes') })).toBeNull()
  })

  it('the token may come as ?token= too', async () => {
    const server = await authServer()
    await seedYjs(server, 'notes')
    const res = await server.http.inject({ url: `/v1/docs/yjs/notes?token=${await token({ 'yjs:notes': 'read' } satisfies Rights)}` })
    expect(res.statusCode).toBe(200)
  })
})
