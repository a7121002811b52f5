import { describe, expect, it } from 'vitest'
import { AwarenessTable, PresenceQuota, asNodeId, decodeAwarenessEntries, encodeAwarenessEntries, type AwarenessEntry, type NodeId, type PresencePolicy } from '@murmur/shared'
import { ClusterPresence, type PresenceDoc, type PresenceMessage } from '../../server/dist/cluster/presence.js'
import { PeerMessageType, decodePeerMessage, encodePeerMessage, type DocRef } from '../../server/dist/cluster/peer-protocol.js'

/**
 * The presence relay between nodes, driven directly: what a peer may put into this node's presence
 * (only its own sockets' entries, under the per-socket and per-doc caps) and what goes when it is gone.
 */

const DOC = { engine: 'yjs', docId: 'room' } as DocRef
const A = asNodeId('node-a')
const B = asNodeId('node-b')
const C = asNodeId('node-c')

function policy(maxIdsPerSocket = 4, maxIdsPerDoc = 10): PresencePolicy & { hits: string[] } {
  const hits: string[] = []
  return { limits: { maxIdsPerSocket, maxBytesPerSocket: 10_000, maxIdsPerDoc }, limitHit: (l) => hits.push(l), hits }
}

/** A node's view of one doc: its table, and what its clients were told. */
class FakeDoc implements PresenceDoc {
  readonly awareness = new AwarenessTable()
  readonly told: AwarenessEntry[] = []
  readonly ephemeral: string[] = []
  speakers = new Set<string>()
  deliverAwareness(update: Uint8Array): void {
    this.told.push(...decodeAwarenessEntries(update))
  }
  deliverEphemeral(sender: string): void {
    this.ephemeral.push(sender)
  }
  speaksAs(sender: string): boolean {
    return this.speakers.has(sender)
  }
  users(): Map<number, string> {
    const all = this.awareness.encodeAll()
    return new Map(all === null ? [] : decodeAwarenessEntries(all).map((e) => [e.clientId, e.state]))
  }
}

interface Node {
  readonly id: NodeId
  readonly doc: FakeDoc
  readonly presence: ClusterPresence
  readonly refused: string[]
  /** Messages sent, by peer (through the real encoding). */
  readonly outbox: Array<{ to: NodeId; msg: PresenceMessage }>
}

function node(id: NodeId, peers: NodeId[], p = policy()): Node {
  const doc = new FakeDoc()
  const outbox: Node['outbox'] = []
  const refused: string[] = []
  const presence = new ClusterPresence({
    doc: () => doc,
    send: (to, msg) => {
      outbox.push({ to, msg: decodePeerMessage(encodePeerMessage(msg)) as PresenceMessage })
      return true
    },
    connected: () => peers,
    policy: p,
    refused: (_peer, _doc, err) => refused.push(err.code),
  })
  presence.serve(DOC, true)
  return { id, doc, presence, refused, outbox }
}

/** Deliver everything `from` sent to `to`. */
function flush(from: Node, to: Node): void {
  for (const { msg } of from.outbox.splice(0).filter((m) => m.to === to.id)) to.presence.receive(from.id, msg)
}

const entry = (clientId: number, clock: number, user: string | null): AwarenessEntry => ({ clientId, clock, state: user === null ? 'null' : JSON.stringify({ user }) })

/** A local socket of `n` announces entries (as `LiveDoc.relayAwareness` does). */
function local(n: Node, socket: object, entries: AwarenessEntry[], quota: PresenceQuota): void {
  const accepted = n.doc.awareness.apply(encodeAwarenessEntries(entries), socket, quota)
  if (accepted !== null) n.presence.announced(DOC, accepted, socket)
}

function presenceFrom(socket: number, entries: AwarenessEntry[]): PresenceMessage {
  return { type: PeerMessageType.presence, doc: DOC, socket, payload: encodeAwarenessEntries(entries) }
}

describe('presence relay between nodes', () => {
  it('a socket\'s presence on A reaches C once C watches, catching C up first; a peer gone takes its entries with it', () => {
    const a = node(A, [C])
    const c = node(C, [A])
    const socket = {}
    const quota = new PresenceQuota(policy())
    local(a, socket, [entry(1, 1, 'ada')], quota)
    // C's watch (sent by `serve`) reaches A: A catches C up, then relays every change.
    flush(c, a)
    flush(a, c)
    expect(c.doc.users().get(1)).toBe(JSON.stringify({ user: 'ada' }))
    local(a, socket, [entry(1, 2, 'ada!')], quota)
    flush(a, c)
    expect(c.doc.told.map((e) => e.state)).toEqual([JSON.stringify({ user: 'ada' }), JSON.stringify({ user: 'ada!' })])

    c.presence.peerDead(A)
    expect(c.doc.users().size).toBe(0)
    expect(c.doc.told.at(-1)).toMatchObject({ clientId: 1, state: 'null' })
  })

  it('a peer cannot change or remove presence it does not own: a local client\'s, or another node\'s', () => {
    const c = node(C, [A, B])
    const mine = {}
    local(c, mine, [entry(5, 1, 'cy')], new PresenceQuota(policy()))
    c.presence.receive(B, presenceFrom(1, [entry(7, 1, 'bo')]))
    expect(c.doc.users().size).toBe(2)
    // A forges C's own client and B's, with higher clocks, and removals.
    c.presence.receive(A, presenceFrom(1, [entry(5, 9, 'mallory'), entry(7, 9, 'mallory')]))
    c.presence.receive(A, presenceFrom(2, [entry(5, 10, null), entry(7, 10, null)]))
    expect(c.doc.users()).toEqual(new Map([[5, JSON.stringify({ user: 'cy' })], [7, JSON.stringify({ user: 'bo' })]]))
    // A's death does not take B's or C's entries.
    c.presence.peerDead(A)
    expect(c.doc.users().size).toBe(2)
  })

  it('a flood relayed by a peer meets the per-socket cap (the socket loses its entries here) and the per-doc cap', () => {
    const p = policy(4, 6)
    const c = node(C, [A], p)
    c.presence.receive(A, presenceFrom(1, [1, 2, 3].map((id) => entry(id, 1, `u${id}`))))
    expect(c.doc.users().size).toBe(3)
    // Socket 1 of A goes past 4 ids: refused, and its entries are removed for C's clients.
    c.presence.receive(A, presenceFrom(1, [4, 5].map((id) => entry(id, 1, `u${id}`))))
    expect(c.refused).toEqual(['MUR_ERR_AWARENESS_LIMIT'])
    expect(c.doc.users().size).toBe(0)
    // Many sockets, each under its own cap: the doc holds at most 6, local and relayed together.
    local(c, {}, [entry(100, 1, 'local')], new PresenceQuota(p))
    for (let s = 10; s < 20; s++) c.presence.receive(A, presenceFrom(s, [entry(s * 10, 1, `s${s}`)]))
    expect(c.doc.users().size).toBe(6)
    expect(p.hits).toContain('max-awareness-ids-per-doc')
  })

  it('ephemeral messages: a peer may not speak as a local client, nor as a sender another peer speaks as until that peer lets it go', () => {
    const c = node(C, [A, B])
    c.doc.speakers.add('local-peer')
    const eph = (sender: string, payload = new Uint8Array([1])): PresenceMessage => ({ type: PeerMessageType.ephemeral, doc: DOC, sender, payload })
    c.presence.receive(A, eph('local-peer'))
    c.presence.receive(A, eph('repo-a'))
    c.presence.receive(B, eph('repo-a'))
    c.presence.receive(B, eph('repo-b'))
    expect(c.doc.ephemeral).toEqual(['repo-a', 'repo-b'])
    expect(c.presence.spokenByPeer(DOC, 'repo-a')).toBe(true)
    // Only A can say its socket speaking as repo-a is gone (an empty message); then B may speak as it.
    c.presence.receive(B, eph('repo-a', new Uint8Array()))
    expect(c.presence.spokenByPeer(DOC, 'repo-a')).toBe(true)
    c.presence.receive(A, eph('repo-a', new Uint8Array()))
    c.presence.receive(B, eph('repo-a'))
    expect(c.doc.ephemeral).toEqual(['repo-a', 'repo-b', 'repo-a'])
    c.presence.peerDead(B)
    expect(c.presence.spokenByPeer(DOC, 'repo-a')).toBe(false)
  })

  it('nothing is relayed to a node that does not watch the doc, and nothing is taken for a doc not served here', () => {
    const a = node(A, [C])
    local(a, {}, [entry(1, 1, 'ada')], new PresenceQuota(policy()))
    expect(a.outbox.filter((m) => m.msg.type === PeerMessageType.presence)).toEqual([])
    const c = node(C, [A])
    c.presence.serve(DOC, false)
    c.presence.receive(A, presenceFrom(1, [entry(1, 1, 'ada')]))
    expect(c.doc.users().size).toBe(0)
  })
})
