import { ErrorCode, MurmurError, getEngine, type DocId, type EngineName, type NodeId } from '@murmur/shared'
import type { ReplicaAcks, ReplicaWrites } from '../docs/durability.js'
import { AckWaits } from './ack-waits.js'
import type { Hints } from './hints.js'
import { SyncSessions } from './sync-sessions.js'
import type { DocObserver, LiveDoc } from '../docs/live-doc.js'
import type { DocRegistry } from '../docs/registry.js'
import type { DocKey } from '../storage/storage.js'
import type { Logger } from '../logger.js'
import type { PeerLinks } from './links.js'
import { PeerMessageType, type DocRef, type PeerMessage } from './peer-protocol.js'
import { locate, type Placement } from './placement.js'
import type { VersionIndex } from './version-index.js'
import { receivedFrom, sendSpan } from '../tracing/tracing.js'

/** The origin of a change that came from another node; pushes never go back to it. */
export class PeerOrigin {
  constructor(readonly peer: NodeId) {}
}

export function docKeyString(doc: DocRef | DocKey): string {
  return `${doc.engine}:${doc.docId}`
}

export function parseDocKey(key: string): DocRef {
  const i = key.indexOf(':')
  return { engine: key.slice(0, i) as EngineName, docId: key.slice(i + 1) as DocId }
}

export interface ReplicationStats {
  pushes: number
  pushesDropped: number
  hintsQueued: number
  hintsReplayed: number
  syncsStarted: number
}

/**
 * Moves doc changes between nodes: pushes every change at once to the doc's replicas and to nodes with
 * clients on it (the fast path), keeps hints for replicas it could not reach (hinted handoff), runs
 * per-(doc, peer) engine sync sessions for repairs, and collects replica acks for W-of-N writes.
 */
export class Replication implements DocObserver, ReplicaWrites {
  private readonly origins = new Map<NodeId, PeerOrigin>()
  private readonly sessions = new SyncSessions()
  private readonly interest = new Map<string, Set<NodeId>>()
  private readonly dirty = new Set<string>()
  private readonly acks: AckWaits
  private readonly chains = new Map<string, Promise<void>>()
  readonly stats: ReplicationStats = { pushes: 0, pushesDropped: 0, hintsQueued: 0, hintsReplayed: 0, syncsStarted: 0 }

  constructor(
    private readonly self: NodeId,
    private readonly registry: DocRegistry,
    private readonly links: PeerLinks,
    private readonly placement: Placement,
    private readonly index: VersionIndex,
    private readonly log: Logger,
    private readonly replicationTimeoutMs: number,
    /** Every member this node knows that has not left (deletions go to all of them). */
    private readonly members: () => readonly NodeId[],
    /** Hinted handoff: what each unreachable peer may lack (durable when the node has storage). */
    private readonly hints: Hints,
  ) {
    this.acks = new AckWaits(replicationTimeoutMs)
  }

  private origin(peer: NodeId): PeerOrigin {
    let o = this.origins.get(peer)
    if (o === undefined) this.origins.set(peer, (o = new PeerOrigin(peer)))
    return o
  }

  private replicasOf(key: string): readonly NodeId[] {
    return this.placement.replicasOf(locate(key).partition)
  }

  isReplica(key: string): boolean {
    return this.replicasOf(key).includes(this.self)
  }

  // ── DocObserver ──────────────────────────────────────────────────────────────────────────────

  loaded(doc: LiveDoc): void {
    const key = docKeyString(doc.key)
    if (this.isReplica(key)) return
    // Serving a doc we do not replicate: tell the replicas to push to us, and pull what they have.
    for (const r of this.replicasOf(key)) {
      this.links.send(r, { type: PeerMessageType.interest, doc: doc.key, on: true })
      this.startSync(r, key)
    }
  }

  changed(doc: LiveDoc, update: Uint8Array, origin: unknown, acks: ReplicaAcks | null): void {
    const key = docKeyString(doc.key)
    this.dirty.add(key)
    const replicas = this.replicasOf(key)
    const targets = new Set<NodeId>()
    if (origin instanceof PeerOrigin) {
      // A replica receiving from a non-replica (which pushed to every replica itself) forwards only to
      // nodes that registered interest here; replicas pushing to replicas would only duplicate.
      if (replicas.includes(this.self) && !replicas.includes(origin.peer)) {
        for (const p of this.interest.get(key) ?? []) targets.add(p)
      }
    } else {
      for (const r of replicas) targets.add(r)
      for (const p of this.interest.get(key) ?? []) targets.add(p)
    }
    targets.delete(this.self)
    if (origin instanceof PeerOrigin) targets.delete(origin.peer)
    const reqId = acks?.reqId ?? 0
    for (const t of targets) {
      this.stats.pushes++
      // The push a write waits for carries its request id to the replicas, which answer it once durable;
      // like any request it is queued, not dropped, when the link is busy.
      const asks = reqId !== 0 && replicas.includes(t)
      const span = sendSpan('murmur.replication.push', doc.key, t)
      const sent = this.links.send(t, { type: PeerMessageType.docUpdate, doc: doc.key, reqId: asks ? reqId : 0, update, trace: span.traceparent }, !asks)
      span.end()
      if (sent) continue
      this.stats.pushesDropped++
      if (replicas.includes(t)) this.addHint(t, key)
    }
    if (acks !== null) acks.pushed = true
  }

  unloaded(doc: LiveDoc): void {
    const key = docKeyString(doc.key)
    if (this.dirty.delete(key)) this.index.set(key, doc.doc.version())
    this.sessions.dropDoc(key)
    if (!this.isReplica(key)) {
      for (const r of this.replicasOf(key)) this.links.send(r, { type: PeerMessageType.interest, doc: doc.key, on: false })
    }
  }

  /** Bring the index up to date for docs changed since the last call (loaded ones; unloads refresh themselves). */
  refreshIndex(): void {
    for (const key of this.dirty) {
      const doc = this.registry.peek(parseDocKey(key))
      if (doc !== undefined && !doc.isFailed) this.index.set(key, doc.doc.version())
    }
    this.dirty.clear()
  }

  // ── hinted handoff ───────────────────────────────────────────────────────────────────────────

  addHint(peer: NodeId, key: string): void {
    if (this.hints.add(peer, key)) this.stats.hintsQueued++
  }

  /**
   * Bring a peer what it may lack of a doc: the tombstone when the doc is deleted here, else an engine
   * sync (which a peer holding a tombstone answers with `docDelete`).
   */
  private handOver(peer: NodeId, key: string): void {
    if (this.index.isDeleted(key)) {
      if (!this.sendDelete(peer, key)) this.addHint(peer, key)
    } else this.startSync(peer, key)
  }

  /** A peer that left the cluster for good is owed nothing any more. */
  forgetPeer(peer: NodeId): void {
    this.hints.forget(peer)
  }

  /** The nodes that replicate a doc (the admin view). */
  replicasOfDoc(doc: DocKey): readonly NodeId[] {
    return this.replicasOf(docKeyString(doc))
  }

  /** Hand `peer` every doc hinted for it (its link is up). */
  replayHints(peer: NodeId): void {
    for (const key of this.hints.take(peer)) {
      this.stats.hintsReplayed++
      this.handOver(peer, key)
    }
  }

  linkUp(peer: NodeId): void {
    this.replayHints(peer)
    // Re-register interest for docs we serve without replicating them.
    for (const doc of this.registry.loadedDocs()) {
      const key = docKeyString(doc.key)
      if (!this.isReplica(key) && this.replicasOf(key).includes(peer)) {
        this.links.send(peer, { type: PeerMessageType.interest, doc: doc.key, on: true })
        this.startSync(peer, key)
      }
    }
  }

  linkDown(peer: NodeId): void {
    for (const key of this.sessions.dropPeer(peer)) {
      // A handoff cut short must be retried: anti-entropy only covers partitions both sides replicate.
      if (!this.isReplica(key) && this.replicasOf(key).includes(peer)) this.addHint(peer, key)
    }
    for (const set of this.interest.values()) set.delete(peer)
  }

  /**
   * Hand every doc this node holds but does not replicate to its replicas (an engine sync each).
   * Clients may write through any node, and a node that is not a replica acknowledges after its own
   * fsync: if its pushes were lost, or placement was not yet known when it took the write (just after a
   * start), only this handoff brings the write to the replicas. Run after the index is built and
   * whenever placement changes (a join, or a decommission, which also hands a leaving node's data on).
   */
  handOffUnowned(keys: Iterable<string>): number {
    let n = 0
    for (const key of keys) {
      if (this.isReplica(key)) continue
      n++
      for (const r of this.replicasOf(key)) {
        if (r === this.self) continue
        if (this.links.isUp(r)) this.handOver(r, key)
        else this.addHint(r, key)
      }
    }
    return n
  }

  // ── deletion ─────────────────────────────────────────────────────────────────────────────────

  /** Whether a change's origin is another node (a push or a sync session of the cluster). */
  isPeerOrigin(origin: unknown): boolean {
    return origin instanceof PeerOrigin
  }

  /**
   * A doc was deleted here (its tombstone is stored): the index holds it as a tombstone, which
   * anti-entropy compares like a version, and every other member is told now, or through a hint
   * (durable) when it is next reachable.
   */
  announceDelete(doc: DocKey, deletedAt: number): void {
    const key = docKeyString(doc)
    this.index.setDeleted(key, deletedAt)
    this.dirty.delete(key)
    for (const m of this.members()) {
      if (m !== this.self && !this.sendDelete(m, key)) this.addHint(m, key)
    }
  }

  private sendDelete(peer: NodeId, key: string): boolean {
    const deletedAt = this.index.deletedAt(key)
    if (deletedAt === undefined) return true
    return this.links.send(peer, { type: PeerMessageType.docDelete, doc: parseDocKey(key), deletedAt })
  }

  /**
   * The doc a peer's push or sync is about, or null when it is deleted here: the peer is answered with
   * the tombstone (it beats whatever content the peer holds) and nothing is stored.
   */
  private async openForPeer(peer: NodeId, doc: DocRef): Promise<LiveDoc | null> {
    try {
      return await this.registry.get(doc)
    } catch (err) {
      if (!(err instanceof MurmurError) || err.code !== ErrorCode.DOC_DELETED) throw err
      this.sendDelete(peer, docKeyString(doc))
      return null
    }
  }

  // ── engine sync with one peer ────────────────────────────────────────────────────────────────

  /**
   * Start (or restart) a sync of one doc with a peer; both sides send what the other lacks. One started
   * a moment ago is left to finish (`SyncSessions.mayStart`).
   */
  startSync(peer: NodeId, key: string): void {
    if (!this.sessions.mayStart(peer, key)) return
    this.stats.syncsStarted++
    this.inOrder(key, async () => {
      const doc = await this.registry.get(parseDocKey(key))
      const session = doc.doc.createSyncSession()
      this.sessions.set(peer, key, session)
      session.start().forEach((payload, i) => {
        if (!this.links.send(peer, { type: PeerMessageType.docSync, doc: doc.key, payload, fresh: i === 0 })) this.addHint(peer, key)
      })
    })
  }

  /**
   * Repair one doc that anti-entropy found different on `peer`. Docs of an engine that
   * `repairsWithSnapshot` (Automerge) also get this node's whole state pushed as one update: a stateful
   * Automerge sync can take many rounds to deliver a change that a lost message once carried, while a snapshot is applied in one step whatever either side
   * believes it sent (the other direction follows when the peer repairs in its own rounds).
   */
  repair(peer: NodeId, key: string): void {
    if (this.index.isDeleted(key)) return this.handOver(peer, key)
    this.startSync(peer, key)
    if (!getEngine(parseDocKey(key).engine).repairsWithSnapshot) return
    this.inOrder(key, async () => {
      const doc = await this.registry.get(parseDocKey(key))
      this.links.send(peer, { type: PeerMessageType.docUpdate, doc: doc.key, reqId: 0, update: doc.doc.encodeSnapshot() })
    })
  }

  /**
   * A link to `peer` closed while another may still be open: messages on it may be lost, so sync
   * sessions with that peer are dropped (their state could count lost messages as delivered) and the
   * docs they were syncing are synced again from scratch.
   */
  linkLost(peer: NodeId): void {
    for (const key of this.sessions.dropPeer(peer)) this.addHint(peer, key)
    if (this.links.isUp(peer)) this.linkUp(peer)
  }

  // ── messages ─────────────────────────────────────────────────────────────────────────────────

  receive(peer: NodeId, msg: PeerMessage): void {
    switch (msg.type) {
      case PeerMessageType.docUpdate: {
        const key = docKeyString(msg.doc)
        this.inOrder(key, () => receivedFrom('murmur.replication.receive', msg.doc, msg.trace ?? '', peer, async () => {
          const doc = await this.openForPeer(peer, msg.doc)
          if (doc === null) {
            if (msg.reqId > 0) this.links.send(peer, { type: PeerMessageType.docAck, reqId: msg.reqId, ok: false })
            return
          }
          // A push without a request id waits for no ack: the node that took the write made it durable
          // before acknowledging it, so this copy is committed with whatever comes along in the next
          // `backgroundCommitMs` rather than in an fsync of its own.
          const durable = doc.apply(msg.update, { from: this.origin(peer), durability: msg.reqId === 0 ? 'background' : 'local', via: 'peer' })
          if (msg.reqId > 0) {
            durable.then(
              () => this.links.send(peer, { type: PeerMessageType.docAck, reqId: msg.reqId, ok: true }),
              () => this.links.send(peer, { type: PeerMessageType.docAck, reqId: msg.reqId, ok: false }),
            )
          } else durable.catch(() => undefined)
        }))
        return
      }
      case PeerMessageType.docAck:
        if (msg.ok) this.acks.answered(msg.reqId)
        return
      case PeerMessageType.docSync: {
        const key = docKeyString(msg.doc)
        this.inOrder(key, async () => {
          const doc = await this.openForPeer(peer, msg.doc)
          if (doc === null) return
          let session = msg.fresh ? undefined : this.sessions.get(peer, key)
          const replies: Uint8Array[] = []
          if (session === undefined) {
            // The peer started this sync: answer with our side's opening as well, so both directions run.
            session = doc.doc.createSyncSession()
            this.sessions.startedByPeer(peer, key, session)
            replies.push(...session.start())
          }
          const result = doc.receiveSync(session, msg.payload, this.origin(peer))
          result.durable.catch(() => undefined)
          for (const payload of [...replies, ...result.replies]) this.links.send(peer, { type: PeerMessageType.docSync, doc: doc.key, payload, fresh: false })
        })
        return
      }
      case PeerMessageType.docDelete: {
        const key = docKeyString(msg.doc)
        this.inOrder(key, async () => {
          // Once deleted, always deleted: a second notice (another node's, or an answer) changes nothing.
          if (this.index.isDeleted(key)) return
          await this.registry.delete(msg.doc, msg.deletedAt)
          this.index.setDeleted(key, msg.deletedAt)
          this.dirty.delete(key)
        })
        return
      }
      case PeerMessageType.interest: {
        const key = docKeyString(msg.doc)
        let set = this.interest.get(key)
        if (msg.on) {
          if (set === undefined) this.interest.set(key, (set = new Set()))
          set.add(peer)
        } else if (set !== undefined) {
          set.delete(peer)
          if (set.size === 0) this.interest.delete(key)
        }
        return
      }
      case PeerMessageType.docStateless:
        // Only nodes serving the doc have anyone to tell; nothing is loaded for it.
        this.registry.peek(msg.doc)?.relayStateless(msg.payload, this.origin(peer))
        return
      default:
        return
    }
  }

  /** Hand a stateless message to every other node: those with clients on the doc deliver it. */
  broadcastStateless(doc: DocKey, payload: string): void {
    for (const peer of this.links.connectedPeers()) this.links.send(peer, { type: PeerMessageType.docStateless, doc, payload }, true)
  }

  /** Handlers for one doc run one after another, so a load in progress cannot reorder its messages. */
  private inOrder(key: string, fn: () => Promise<void>): void {
    const prev = this.chains.get(key) ?? Promise.resolve()
    const next = prev.then(fn).catch((err: unknown) => this.log.warn({ err, doc: key }, 'replication step failed'))
    this.chains.set(key, next)
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key)
    })
  }

  // ── W-of-N acks ──────────────────────────────────────────────────────────────────────────────

  /**
   * Open a wait for `replicas` replicas of the doc to hold the write about to be applied (this node
   * counts when it is one: the caller waits for its own fsync too). Its request id goes out with the
   * push of the change (`changed`), or with `requestAcks` when the write changed nothing here. Rejects
   * with REPLICATION_TIMEOUT when the doc has fewer replicas or they do not answer in time.
   */
  expectAcks(doc: DocKey, replicas: number): ReplicaAcks {
    const owners = this.replicasOf(docKeyString(doc))
    if (replicas > owners.length) return this.acks.refused(new MurmurError(ErrorCode.REPLICATION_TIMEOUT, `asked for ${replicas} replicas; this doc has ${owners.length}`))
    return this.acks.expect(replicas - (owners.includes(this.self) ? 1 : 0), replicas)
  }

  /** Ask the replicas for an update that changed nothing here (so nothing was pushed): they may lack it. */
  requestAcks(doc: DocKey, acks: ReplicaAcks, update: Uint8Array): void {
    for (const r of this.replicasOf(docKeyString(doc))) {
      if (r !== this.self) this.links.send(r, { type: PeerMessageType.docUpdate, doc, reqId: acks.reqId, update })
    }
    acks.pushed = true
  }

  close(): void {
    this.acks.close()
  }
}
