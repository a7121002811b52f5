import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { Decoder, Encoder } from 'cbor-x'
import { CloseCode } from '@murmur/shared'
import { startTestServer, wsUrl } from '../support/servers.js'
import { until, within } from '../support/wait.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { PresenceClient, state } from '../support/presence.js'

/**
 * Presence belongs to the socket that introduced it, on every endpoint, and is bounded per socket and
 * per doc, so neither a reader nor a writer can rewrite, remove or flood the presence others see.
 */
describe('presence ownership', () => {
  it.each(['yjs', 'sync'] as const)('on /%s a read-only and a writing client cannot change or remove another socket\'s presence; a close removes exactly its ids', async (endpoint) => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const doc = `room-${endpoint}`
    const writer = await token({ [`yjs:${doc}`]: 'write' })
    const reader = await token({ [`yjs:${doc}`]: 'read' })
    const alice = await PresenceClient.open(server.url, endpoint, doc, writer)
    const observer = await PresenceClient.open(server.url, endpoint, doc, reader)
    alice.send([{ clientId: 100, clock: 1, state: state('alice') }])
    await observer.until(() => observer.states.get(100) === state('alice'), "alice's presence")

    for (const [name, rights] of [['reader', reader], ['writer', writer]] as const) {
      const mallory = await PresenceClient.open(server.url, endpoint, doc, rights)
      const own = name === 'reader' ? 200 : 300
      // Overwrite and remove alice (higher clocks), then announce its own id: once the observer sees
      // that, the forged entries before it were handled.
      mallory.send([{ clientId: 100, clock: 50, state: state('mallory') }])
      mallory.send([{ clientId: 100, clock: 60, state: 'null' }])
      mallory.send([{ clientId: own, clock: 1, state: state(name) }])
      await observer.until(() => observer.states.get(own) === state(name), `the ${name}'s own presence`)
      expect(observer.states.get(100)).toBe(state('alice'))
      mallory.close()
      await observer.until(() => !observer.states.has(own), `the ${name}'s presence removed at its close`)
      expect(observer.states.get(100)).toBe(state('alice'))
    }

    // A newcomer sees alice, as she set herself; her own update and removal go through.
    alice.send([{ clientId: 100, clock: 2, state: state('alice, again') }])
    await observer.until(() => observer.states.get(100) === state('alice, again'), "alice's own update")
    const late = await PresenceClient.open(server.url, endpoint, doc, reader)
    await late.until(() => late.states.get(100) === state('alice, again'), "alice's presence for a newcomer")
    alice.close()
    await observer.until(() => !observer.states.has(100), "alice's presence removed at her close")
  })
})

describe('presence limits', () => {
  it.each(['yjs', 'sync'] as const)('on /%s a socket flooding awareness ids is closed with 4431; joiners get at most the per-doc cap', async (endpoint) => {
    const server = await startTestServer({ maxAwarenessIdsPerSocket: 16, maxAwarenessBytesPerSocket: 4096, maxAwarenessIdsPerDoc: 40 })
    const doc = `flood-${endpoint}`
    const flood = await PresenceClient.open(server.url, endpoint, doc)
    flood.send(Array.from({ length: 17 }, (_, i) => ({ clientId: 1000 + i, clock: 1, state: state('flood') })))
    const closed = await flood.closed
    expect(closed.code).toBe(CloseCode.AWARENESS_LIMIT)
    expect(closed.reason).toMatch(/^MUR_ERR_AWARENESS_LIMIT: at most 16 presence states per socket/u)

    const big = await PresenceClient.open(server.url, endpoint, doc)
    big.send([{ clientId: 5000, clock: 1, state: state('big', 5000) }])
    expect((await big.closed).code).toBe(CloseCode.AWARENESS_LIMIT)

    // Three sockets of 16 ids each, one after the other: the doc keeps 40; a joiner gets no more.
    const joiner = await PresenceClient.open(server.url, endpoint, doc)
    for (const n of [0, 1, 2]) {
      const member = await PresenceClient.open(server.url, endpoint, doc)
      member.send(Array.from({ length: 16 }, (_, i) => ({ clientId: 10_000 + n * 100 + i, clock: 1, state: state('crowd') })))
      // Its first id, updated after the rest: once the joiner sees that, the whole batch was handled.
      member.send([{ clientId: 10_000 + n * 100, clock: 2, state: state(`barrier ${n}`) }])
      await joiner.until(() => joiner.states.get(10_000 + n * 100) === state(`barrier ${n}`), `crowd member ${n}`)
    }
    expect(joiner.states.size).toBe(40)
    const late = await PresenceClient.open(server.url, endpoint, doc)
    await late.until(() => late.states.size > 0, 'presence for a late joiner')
    expect(late.states.size).toBe(40)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/murmur_limit_hits_total\{limit="max-awareness-ids-per-socket"\} 1/u)
    expect(metrics).toMatch(/murmur_limit_hits_total\{limit="max-awareness-bytes-per-socket"\} 1/u)
    expect(metrics).toMatch(/murmur_limit_hits_total\{limit="max-awareness-ids-per-doc"\} 8/u)
  })
})

const cborEncoder = new Encoder({ tagUint8Array: false, useRecords: false })
const cborDecoder = new Decoder({ useRecords: false, mapsAsObjects: true })
const cbor = { encode: (v: unknown) => cborEncoder.encode(v), decode: (b: Uint8Array) => cborDecoder.decode(b) as unknown }

/** A bare automerge-repo peer: joins as `peerId`, sends ephemeral messages as whoever it is told. */
async function repoPeer(url: string, peerId: string): Promise<{ ws: WebSocket; got: { senderId: string; data: string }[]; changed: EventTarget; ephemeral(senderId: string, documentId: string, data: string): void }> {
  const ws = new WebSocket(wsUrl(url, '/automerge'))
  ws.binaryType = 'nodebuffer'
  onTestFinished(() => ws.terminate())
  const got: { senderId: string; data: string }[] = []
  const changed = new EventTarget()
  let count = 0
  const joined = new Promise<void>((resolve) =>
    ws.on('message', (frame: Buffer) => {
      const msg = cbor.decode(frame) as { type: string; senderId: string; data?: Uint8Array }
      if (msg.type === 'peer') resolve()
      if (msg.type === 'ephemeral') {
        got.push({ senderId: msg.senderId, data: Buffer.from(msg.data ?? []).toString() })
        changed.dispatchEvent(new Event('change'))
      }
    }),
  )
  await new Promise((resolve) => ws.once('open', resolve))
  ws.send(cbor.encode({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] }))
  await within(joined, 10_000, 'the automerge-repo join')
  return {
    ws,
    got,
    changed,
    ephemeral: (senderId, documentId, data) =>
      ws.send(cbor.encode({ type: 'ephemeral', senderId, targetId: 'server', count: ++count, sessionId: `${peerId}-session`, documentId, data: Buffer.from(data) })),
  }
}

describe('automerge-repo presence ownership', () => {
  it('on /automerge a socket speaks only as the peer it joined as, and not as a peer another socket already speaks as', async () => {
    const server = await startTestServer()
    const doc = 'repo-room'
    const observer = await repoPeer(server.url, 'observer')
    observer.ephemeral('observer', doc, 'hello')
    const alice = await repoPeer(server.url, 'alice')
    alice.ephemeral('alice', doc, 'alice is here')
    const seen = (data: string) => () => observer.got.some((m) => m.data === data)
    const onChange = (cb: () => void) => {
      observer.changed.addEventListener('change', cb)
      return () => observer.changed.removeEventListener('change', cb)
    }
    await until(seen('alice is here'), onChange, 10_000, "alice's presence")

    const mallory = await repoPeer(server.url, 'mallory')
    mallory.ephemeral('alice', doc, 'forged as alice')
    mallory.ephemeral('bob', doc, 'forged as a peer nobody speaks as')
    // A second socket joined as alice, while alice's socket speaks as alice on this doc.
    const twin = await repoPeer(server.url, 'alice')
    twin.ephemeral('alice', doc, 'alice twin')
    twin.ephemeral('alice', 'another-doc', 'alice twin elsewhere')
    mallory.ephemeral('mallory', doc, 'mallory is here')
    await until(seen('mallory is here'), onChange, 10_000, "mallory's own presence")
    alice.ephemeral('alice', doc, 'alice again')
    await until(seen('alice again'), onChange, 10_000, "alice's second message")
    expect(observer.got.map((m) => m.data)).toEqual(['alice is here', 'mallory is here', 'alice again'])
  })
})
