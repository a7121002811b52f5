import { MurmurError, PresenceLimit, PresenceQuota, type AwarenessTable, type NodeId, type PresencePolicy } from '@murmur/shared'
import { PeerMessageType, type DocRef, type PeerMessage } from './peer-protocol.js'

/**
 * Presence across nodes. Each node owns the presence of its own client sockets (`AwarenessTable` on the
 * live doc); this relays it, in one hop, to every other node with clients on the doc, and holds what
 * peers relay under the same caps as a local socket. A pure state machine over `PresenceEnv`, so the
 * node (links) and the simulation (a seeded network) drive the same code.
 *
 * - A node with clients on a doc tells every connected peer (`presenceWatch` on), again after each link
 *   comes up, and `off` when its last client leaves. A peer answers with the presence its own sockets
 *   hold on the doc, and from then on sends every change of it (`presence`, one socket's entries).
 * - Entries from a peer are owned by that peer's socket (`PeerSocket`): it can change or remove only
 *   those, never a local client's or another node's (the table drops such updates), and each peer socket
 *   is charged the per-socket caps; a peer socket past them loses its entries here. The per-doc cap
 *   counts every entry of the doc, local and relayed, so it holds for the whole cluster.
 * - When a peer is gone (its links are down, or membership holds it dead or left) its entries are
 *   removed and this node's clients are told, as for a socket that closed.
 * - Ephemeral messages (automerge-repo) carry no state: they are forwarded once, and a peer may speak
 *   only as senders no local client and no other peer speaks as.
 */

export type PresenceMessage = Extract<PeerMessage, { type: 20 | 21 | 22 }>

export function isPresenceMessage(msg: PeerMessage): msg is PresenceMessage {
  return msg.type === PeerMessageType.presenceWatch || msg.type === PeerMessageType.presence || msg.type === PeerMessageType.ephemeral
}

/** A doc this node has clients on, as presence relay sees it. */
export interface PresenceDoc {
  readonly awareness: AwarenessTable
  /** Hand an awareness update from a peer to every client of the doc here. */
  deliverAwareness(update: Uint8Array): void
  /** Hand an ephemeral message from a peer to every client of the doc here that reads them. */
  deliverEphemeral(sender: string, payload: Uint8Array): void
  /** Whether a client of this node speaks as `sender` in the doc's ephemeral messages. */
  speaksAs(sender: string): boolean
}

export interface PresenceEnv {
  /** The doc, when it is loaded here. */
  doc(doc: DocRef): PresenceDoc | undefined
  send(peer: NodeId, msg: PresenceMessage): boolean
  connected(): readonly NodeId[]
  readonly policy: PresencePolicy
  /** A peer's presence was refused (past a cap, or malformed): a log line. */
  refused(peer: NodeId, doc: DocRef, err: MurmurError): void
}

/** One client socket of a peer, as the owner of the entries it announced here. */
export class PeerSocket {
  readonly quota: PresenceQuota
  constructor(
    readonly peer: NodeId,
    readonly socket: number,
    policy: PresencePolicy,
  ) {
    this.quota = new PresenceQuota(policy)
  }
}

const keyOf = (doc: DocRef): string => `${doc.engine}:${doc.docId}`

export class ClusterPresence {
  /** Docs with clients here. */
  private readonly served = new Map<string, DocRef>()
  /** Peers with clients on each doc: they get this node's presence of it. */
  private readonly watchers = new Map<string, Set<NodeId>>()
  /** Peer sockets holding entries, per doc. */
  private readonly sockets = new Map<string, Map<string, PeerSocket>>()
  /** Ephemeral senders a peer speaks as, per doc. */
  private readonly speakers = new Map<string, Map<string, NodeId>>()
  /** Numbers for this node's own sockets (only told to peers, never interpreted). */
  private readonly tags = new WeakMap<object, number>()
  private nextTag = 1
  readonly stats = { sent: 0, received: 0, refused: 0, removedForPeer: 0 }

  constructor(private readonly env: PresenceEnv) {}

  // ── this node's clients ───────────────────────────────────────────────────────────────────────

  /** The doc got its first client here (on) or lost its last (off). */
  serve(doc: DocRef, on: boolean): void {
    const key = keyOf(doc)
    if (on) this.served.set(key, doc)
    else {
      // Nobody here to show peers' presence to: forget it (a later client gets it anew from them).
      this.served.delete(key)
      const live = this.env.doc(doc)
      for (const owner of this.sockets.get(key)?.values() ?? []) live?.awareness.removeOwner(owner)
      this.sockets.delete(key)
      this.speakers.delete(key)
    }
    for (const peer of this.env.connected()) this.env.send(peer, { type: PeerMessageType.presenceWatch, doc, on })
  }

  /** A local socket's entries changed (`update` holds only what the table accepted from it). */
  announced(doc: DocRef, update: Uint8Array, origin: object): void {
    const watchers = this.watchers.get(keyOf(doc))
    if (watchers === undefined) return
    const socket = this.tagOf(origin)
    for (const peer of watchers) this.sendCounted(peer, { type: PeerMessageType.presence, doc, socket, payload: update })
  }

  /** A local client sent an ephemeral message as `sender` (empty: the client that spoke as it is gone). */
  ephemeral(doc: DocRef, sender: string, payload: Uint8Array): void {
    for (const peer of this.watchers.get(keyOf(doc)) ?? []) this.sendCounted(peer, { type: PeerMessageType.ephemeral, doc, sender, payload })
  }

  /** Whether a client of a peer speaks as `sender` on the doc (so a local one may not). */
  spokenByPeer(doc: DocRef, sender: string): boolean {
    return this.speakers.get(keyOf(doc))?.has(sender) === true
  }

  // ── peers ─────────────────────────────────────────────────────────────────────────────────────

  /** A link to `peer` came up (or it is alive again): ask it for the presence of every doc we serve. */
  linkUp(peer: NodeId): void {
    for (const doc of this.served.values()) this.env.send(peer, { type: PeerMessageType.presenceWatch, doc, on: true })
  }

  /** No link to `peer` is left: it hears nothing from us until it watches again (after the link is back). */
  linkDown(peer: NodeId): void {
    for (const [key, set] of this.watchers) {
      set.delete(peer)
      if (set.size === 0) this.watchers.delete(key)
    }
    this.peerDead(peer)
  }

  /** `peer` is dead (or left, or unreachable): drop what its clients announced, telling ours. */
  peerDead(peer: NodeId): void {
    for (const [key, owners] of this.sockets) {
      const ref = this.served.get(key)
      const doc = ref === undefined ? undefined : this.env.doc(ref)
      for (const [id, owner] of owners) {
        if (owner.peer !== peer) continue
        owners.delete(id)
        this.stats.removedForPeer++
        const removal = doc?.awareness.removeOwner(owner) ?? null
        if (removal !== null) doc?.deliverAwareness(removal)
      }
      if (owners.size === 0) this.sockets.delete(key)
    }
    for (const [key, senders] of this.speakers) {
      for (const [sender, p] of senders) if (p === peer) senders.delete(sender)
      if (senders.size === 0) this.speakers.delete(key)
    }
  }

  receive(peer: NodeId, msg: PresenceMessage): void {
    const key = keyOf(msg.doc)
    switch (msg.type) {
      case PeerMessageType.presenceWatch:
        return msg.on ? this.watch(peer, key, msg.doc) : this.unwatch(peer, key)
      case PeerMessageType.presence:
        return this.fromPeer(peer, key, msg.doc, msg.socket, msg.payload)
      case PeerMessageType.ephemeral: {
        let senders = this.speakers.get(key)
        const owner = senders?.get(msg.sender)
        if (owner !== undefined && owner !== peer) return
        if (msg.payload.length === 0) {
          // The peer's socket that spoke as this sender is gone.
          senders?.delete(msg.sender)
          return
        }
        const doc = this.served.has(key) ? this.env.doc(msg.doc) : undefined
        if (doc === undefined) return
        if (owner === undefined) {
          if (doc.speaksAs(msg.sender)) return
          if ((senders?.size ?? 0) >= this.env.policy.limits.maxIdsPerDoc) {
            this.env.policy.limitHit(PresenceLimit.idsPerDoc)
            return
          }
          if (senders === undefined) this.speakers.set(key, (senders = new Map()))
          senders.set(msg.sender, peer)
        }
        this.stats.received++
        doc.deliverEphemeral(msg.sender, msg.payload)
        return
      }
    }
  }

  private watch(peer: NodeId, key: string, ref: DocRef): void {
    let set = this.watchers.get(key)
    if (set === undefined) this.watchers.set(key, (set = new Set()))
    set.add(peer)
    // Catch the peer up: the entries of our own sockets (never those relayed to us).
    const doc = this.served.has(key) ? this.env.doc(ref) : undefined
    for (const [owner, payload] of doc?.awareness.encodeOwners((o) => !(o instanceof PeerSocket)) ?? []) {
      this.sendCounted(peer, { type: PeerMessageType.presence, doc: ref, socket: this.tagOf(owner as object), payload })
    }
  }

  private unwatch(peer: NodeId, key: string): void {
    const set = this.watchers.get(key)
    set?.delete(peer)
    if (set?.size === 0) this.watchers.delete(key)
  }

  private fromPeer(peer: NodeId, key: string, ref: DocRef, socket: number, payload: Uint8Array): void {
    const doc = this.served.has(key) ? this.env.doc(ref) : undefined
    if (doc === undefined) return
    let owners = this.sockets.get(key)
    const id = `${peer}\u0000${socket}`
    const owner = owners?.get(id) ?? new PeerSocket(peer, socket, this.env.policy)
    let accepted: Uint8Array | null
    try {
      accepted = doc.awareness.apply(payload, owner, owner.quota)
    } catch (err) {
      if (!(err instanceof MurmurError)) throw err
      // As a local socket past its caps is closed: the peer socket loses every entry it holds here.
      this.stats.refused++
      owners?.delete(id)
      const removal = doc.awareness.removeOwner(owner)
      if (removal !== null) doc.deliverAwareness(removal)
      this.env.refused(peer, ref, err)
      return
    }
    if (owner.quota.ids > 0) {
      if (owners === undefined) this.sockets.set(key, (owners = new Map()))
      owners.set(id, owner)
    } else owners?.delete(id)
    if (accepted === null) return
    this.stats.received++
    doc.deliverAwareness(accepted)
  }

  private tagOf(origin: object): number {
    let tag = this.tags.get(origin)
    if (tag === undefined) this.tags.set(origin, (tag = this.nextTag++))
    return tag
  }

  private sendCounted(peer: NodeId, msg: PresenceMessage): void {
    if (this.env.send(peer, msg)) this.stats.sent++
  }
}
