import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { Encoder, decode } from 'cbor-x'
import * as A from '@automerge/automerge'
import { Repo, type DocHandle, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { MessageType, decodeMessage, encodeMessage, type Message } from '@murmur/shared'
import type { AutomergeHandle } from '../../client/dist/index.js'
import type { MurmurServer } from '../../server/dist/index.js'
import { startTestServer, wsUrl } from '../support/servers.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { until, within } from '../support/wait.js'

interface Board {
  title?: string
  cards?: string[]
}

/** An unmodified automerge-repo Repo (no storage) connected to the node's /automerge; shut down after the test. */
async function connectedRepo(server: MurmurServer): Promise<Repo> {
  const repo = new Repo({ network: [new WebSocketClientAdapter(wsUrl(server.url, '/automerge'), 200)] })
  onTestFinished(() => repo.shutdown())
  await until(() => repo.peers.length > 0, (cb) => {
    repo.networkSubsystem.on('peer', cb)
    return () => repo.networkSubsystem.off('peer', cb)
  }, 10_000, 'the repo to meet the server')
  return repo
}

function untilRepoDoc<T>(handle: DocHandle<T>, check: (doc: T) => boolean, what: string): Promise<void> {
  return until(() => check(handle.doc()), (cb) => {
    handle.on('change', cb)
    return () => handle.off('change', cb)
  }, 20_000, what)
}

function untilSdkDoc<T>(handle: AutomergeHandle<T>, check: (doc: T) => boolean, what: string): Promise<void> {
  return until(() => check(handle.doc()), (cb) => handle.on('change', cb), 20_000, what)
}

const cborEncoder = new Encoder({ tagUint8Array: false, useRecords: false })

/** A raw /automerge socket speaking CBOR; records what it gets and how it closed. */
function rawRepoSocket(server: MurmurServer) {
  const ws = new WebSocket(wsUrl(server.url, '/automerge'))
  ws.on('error', () => undefined)
  const received: Record<string, unknown>[] = []
  const listeners = new Set<() => void>()
  ws.on('message', (data: Buffer) => {
    received.push(decode(data) as Record<string, unknown>)
    for (const l of listeners) l()
  })
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  onTestFinished(() => ws.terminate())
  const send = (msg: Record<string, unknown> | Uint8Array): void => ws.send(msg instanceof Uint8Array ? msg : cborEncoder.encode(msg))
  const join = (): void => send({ type: 'join', senderId: 'raw-peer', peerMetadata: { isEphemeral: true }, supportedProtocolVersions: ['1'] })
  const next = (type: string): Promise<Record<string, unknown>> =>
    within(
      new Promise((resolve) => {
        const check = (): void => {
          const m = received.find((x) => x.type === type)
          if (m !== undefined) resolve(m)
        }
        listeners.add(check)
        check()
      }),
      10_000,
      `a ${type} message`,
    )
  return { ws, received, opened, closed, send, join, next }
}

describe('/automerge: unmodified automerge-repo clients', () => {
  it('a Repo creates a doc; an SDK client opens it by id and edits it; the Repo sees the edit', async () => {
    const server = await startTestServer()
    const repo = await connectedRepo(server)
    const created = repo.create<Board>({ title: 'Sprint', cards: ['write tests'] })
    const id = created.documentId

    const client = sdkClient(server.url)
    const h = client.automerge<Board>(id)
    await untilSdkDoc(h, (d) => d.title === 'Sprint', 'the SDK client to get the Repo’s doc')
    expect(h.doc().cards).toEqual(['write tests'])
    h.change((d) => d.cards!.push('ship it'))
    await untilSaved(h)
    await untilRepoDoc(created, (d) => d.cards?.includes('ship it') === true, 'the Repo to see the SDK’s edit')

    // And back: the Repo edits, the SDK sees it; both hold the same heads as the server.
    created.change((d) => {
      d.title = 'Sprint 2'
    })
    await untilSdkDoc(h, (d) => d.title === 'Sprint 2', 'the SDK to see the Repo’s edit')
    const live = await server.registry.get({ engine: 'automerge', docId: id as never })
    expect(live.doc.toJSON()).toEqual({ title: 'Sprint 2', cards: ['write tests', 'ship it'] })
    // What the Repo pushed is durable, under the same id.
    const stored = await server.storage.load({ engine: 'automerge', docId: id as never })
    expect(stored).not.toBeNull()
  })

  it('a second Repo finds the doc through the server, and ephemeral messages reach the doc’s other Repos', async () => {
    const server = await startTestServer()
    const first = await connectedRepo(server)
    const handle = first.create<Board>({ title: 'shared' })
    const client = sdkClient(server.url)
    // Waiting on the SDK handle shows the server holds the doc before the second Repo asks for it.
    await untilSdkDoc(client.automerge<Board>(handle.documentId), (d) => d.title === 'shared', 'the server to hold the doc')

    const second = await connectedRepo(server)
    const found = await within(second.find<Board>(handle.url), 20_000, 'find')
    expect(found.doc().title).toBe('shared')

    const heard: unknown[] = []
    const gotIt = until(() => heard.length > 0, (cb) => {
      const l = (p: { message: unknown }): void => {
        heard.push(p.message)
        cb()
      }
      found.on('ephemeral-message', l)
      return () => found.off('ephemeral-message', l)
    }, 10_000, 'the ephemeral message')
    handle.broadcast({ cursor: 7 })
    await gotIt
    expect(heard[0]).toEqual({ cursor: 7 })
  })

  it('request for a doc nobody stored gets doc-unavailable, and the doc is not created', async () => {
    const server = await startTestServer()
    const repo = await connectedRepo(server)
    const stranger = new Repo()
    const unknown = stranger.create<Board>({ title: 'never pushed' })
    const url = unknown.url
    await stranger.shutdown()
    await expect(within(repo.find(url), 20_000, 'find to settle')).rejects.toThrow(/unavailable/u)
    expect(await server.storage.load({ engine: 'automerge', docId: unknown.documentId as never })).toBeNull()

    // On the wire: request → doc-unavailable, addressed to the asker.
    const raw = rawRepoSocket(server)
    await raw.opened
    raw.join()
    const peer = await raw.next('peer')
    expect(peer).toMatchObject({ type: 'peer', targetId: 'raw-peer', selectedProtocolVersion: '1', peerMetadata: { isEphemeral: false } })
    const [, request] = A.generateSyncMessage(A.init(), A.initSyncState())
    raw.send({ type: 'request', senderId: 'raw-peer', targetId: peer.senderId, documentId: unknown.documentId, data: request })
    expect(await raw.next('doc-unavailable')).toEqual({ type: 'doc-unavailable', senderId: peer.senderId, targetId: 'raw-peer', documentId: unknown.documentId })
  })

  it('refuses malformed CBOR, unknown types, bad sync data and a missing join with an error and a closed socket; the doc is unharmed', async () => {
    const server = await startTestServer()
    const repo = await connectedRepo(server)
    const handle = repo.create<Board>({ title: 'precious' })
    const client = sdkClient(server.url)
    const h = client.automerge<Board>(handle.documentId)
    await untilSdkDoc(h, (d) => d.title === 'precious', 'the server to hold the doc')
    const documentId = handle.documentId as DocumentId

    const corruptChange = A.getLastLocalChange(A.change(A.init<Board>(), (d) => (d.title = 'x')))!.slice()
    corruptChange[20] ^= 0xff
    const cases: { name: string; frames: (Record<string, unknown> | Uint8Array)[]; code: string; close: number; join?: boolean }[] = [
      { name: 'bytes that are not CBOR', frames: [Uint8Array.from([0xff, 0x00, 0x13])], code: 'MUR_ERR_MALFORMED_MESSAGE', close: 4400 },
      { name: 'CBOR that is not a map', frames: [cborEncoder.encode(['sync'])], code: 'MUR_ERR_MALFORMED_MESSAGE', close: 4400 },
      { name: 'an unknown type', frames: [{ type: 'gossip', senderId: 'raw-peer' }], code: 'MUR_ERR_UNKNOWN_MESSAGE', close: 4400 },
      { name: 'a sync without data', frames: [{ type: 'sync', senderId: 'raw-peer', targetId: 'x', documentId }], code: 'MUR_ERR_MALFORMED_MESSAGE', close: 4400 },
      { name: 'sync data that is not a sync message', frames: [{ type: 'sync', senderId: 'raw-peer', targetId: 'x', documentId, data: Uint8Array.from([0x42, 9, 9, 9]) }], code: 'MUR_ERR_MALFORMED_MESSAGE', close: 4400 },
      {
        name: 'a sync message carrying a corrupt change',
        frames: [{ type: 'sync', senderId: 'raw-peer', targetId: 'x', documentId, data: A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [corruptChange] }) }],
        code: 'MUR_ERR_INVALID_UPDATE',
        close: 4400,
      },
      { name: 'a sync before join', frames: [{ type: 'sync', senderId: 'raw-peer', targetId: 'x', documentId, data: Uint8Array.from([1]) }], code: 'MUR_ERR_HANDSHAKE_REQUIRED', close: 4400, join: false },
      { name: 'a join without protocol "1"', frames: [{ type: 'join', senderId: 'raw-peer', peerMetadata: {}, supportedProtocolVersions: ['2'] }], code: 'MUR_ERR_UNSUPPORTED_VERSION', close: 4426, join: false },
    ]
    for (const c of cases) {
      const raw = rawRepoSocket(server)
      await raw.opened
      if (c.join !== false) {
        raw.join()
        await raw.next('peer')
      }
      for (const f of c.frames) raw.send(f)
      const closed = await within(raw.closed, 10_000, `close after ${c.name}`)
      expect(closed.code, c.name).toBe(c.close)
      expect(closed.reason, c.name).toContain(c.code)
      const error = raw.received.find((m) => m.type === 'error')
      expect(error?.message, c.name).toContain(c.code)
    }

    // Everyone else goes on: the Repo and the SDK client still sync, the doc has what it had.
    handle.change((d) => {
      d.cards = ['still here']
    })
    await untilSdkDoc(h, (d) => d.cards?.[0] === 'still here', 'the SDK to see an edit made after the bad input')
    const live = await server.registry.get({ engine: 'automerge', docId: documentId as never })
    expect(live.doc.toJSON()).toEqual({ title: 'precious', cards: ['still here'] })
  })

  it('/sync refuses bad Automerge updates and sync messages with an error and a closed socket', async () => {
    const server = await startTestServer()
    const client = sdkClient(server.url)
    const h = client.automerge<Board>('victim')
    await untilSynced(h)
    h.change((d) => {
      d.title = 'safe'
    })
    await untilSynced(h)

    const corrupt = A.getLastLocalChange(A.change(A.init<Board>(), (d) => (d.title = 'evil')))!.slice()
    corrupt[corrupt.length - 1] ^= 0xff
    const payloads: { name: string; msg: Message; code: string }[] = [
      { name: 'update: not Automerge bytes', msg: { type: MessageType.update, ref: 1, id: 'u1', replicas: 0, payload: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) }, code: 'MUR_ERR_INVALID_UPDATE' },
      { name: 'update: a corrupt change', msg: { type: MessageType.update, ref: 1, id: 'u2', replicas: 0, payload: corrupt }, code: 'MUR_ERR_INVALID_UPDATE' },
      { name: 'sync: not a sync message', msg: { type: MessageType.sync, ref: 1, payload: Uint8Array.from([0x42, 1]) }, code: 'MUR_ERR_MALFORMED_MESSAGE' },
      {
        name: 'sync: a corrupt change inside',
        msg: { type: MessageType.sync, ref: 1, payload: A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [corrupt] }) },
        code: 'MUR_ERR_INVALID_UPDATE',
      },
    ]
    for (const p of payloads) {
      const ws = new WebSocket(wsUrl(server.url, '/sync'))
      ws.on('error', () => undefined)
      onTestFinished(() => ws.terminate())
      const received: Message[] = []
      ws.on('message', (data: Buffer) => received.push(decodeMessage(new Uint8Array(data))))
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
      await new Promise<void>((resolve) => ws.once('open', () => resolve()))
      ws.send(encodeMessage({ type: MessageType.hello, major: 1, minor: 0, token: '', client: 'test' }))
      ws.send(encodeMessage({ type: MessageType.open, ref: 1, engine: 'automerge', docId: 'victim' }))
      ws.send(encodeMessage(p.msg))
      const c = await within(closed, 10_000, `close after ${p.name}`)
      expect(c.code, p.name).toBe(4400)
      expect(c.reason, p.name).toContain(p.code)
      expect(received.some((m) => m.type === MessageType.error && m.code === p.code), p.name).toBe(true)
    }
    const live = await server.registry.get({ engine: 'automerge', docId: 'victim' as never })
    expect(live.doc.toJSON()).toEqual({ title: 'safe' })
    expect(h.status).toBe('synced')
  })
})
