import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { PeerIdentity } from '../auth/authenticator.js'
import type { Revocations } from '../auth/revocations.js'
import { asNodeId, getEngine, type NodeId, type PresencePolicy } from '@murmur/shared'
import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { DocRef } from './peer-protocol.js'
import type { Logger } from '../logger.js'
import type { DocKey, DocLog, HintStore, Tombstones, VersionStore } from '../storage/storage.js'
import { AntiEntropy } from './anti-entropy.js'
import { Hints } from './hints.js'
import { PeerLinks } from './links.js'
import { normalizePeerUrl } from './peer-auth.js'
import { Membership, DEFAULT_MEMBERSHIP_OPTIONS } from './membership.js'
import { MemberState, type MemberInfo, type MembershipOptions } from './membership-api.js'
import { PeerMessageType, encodePeerMessage, type PeerMessage } from './peer-protocol.js'
import { IdentityCheck } from './identity.js'
import { ClusterPresence, isPresenceMessage, type PresenceDoc } from './presence.js'
import { Placement, locate } from './placement.js'
import { Replication, docKeyString, parseDocKey } from './replication.js'
import { RevocationGossip } from './revocation-gossip.js'
import { VersionIndex } from './version-index.js'
import { VersionReplication } from './version-replication.js'

type AeMessage = Extract<PeerMessage, { type: 7 | 8 | 9 | 10 }>

function isAe(msg: PeerMessage): msg is AeMessage {
  return msg.type >= PeerMessageType.aeTop && msg.type <= PeerMessageType.aeDone
}

const VERSION_MESSAGES: ReadonlySet<number> = new Set([PeerMessageType.versionPut, PeerMessageType.versionDelete, PeerMessageType.versionDigests, PeerMessageType.versionIds])

function isVersionMessage(msg: PeerMessage): msg is Parameters<VersionReplication['receive']>[1] {
  return VERSION_MESSAGES.has(msg.type)
}

/**
 * A node's part in the cluster: links to every other node, SWIM membership over them, placement of docs
 * on replicas, replication of changes, and periodic anti-entropy.
 */
export class Cluster {
  readonly self: NodeId
  readonly url: string
  readonly links: PeerLinks
  readonly membership: Membership
  /** The SWIM timing this node runs with (tests compute the detection bound from it). */
  readonly membershipOptions: MembershipOptions
  readonly placement: Placement
  readonly index = new VersionIndex()
  readonly replication: Replication
  /** Pushes versions made or deleted here to the doc's replicas (`startServer` feeds it). */
  readonly versions: VersionReplication
  readonly antiEntropy: AntiEntropy
  /** What unreachable peers may lack (hinted handoff), kept in storage across restarts. */
  readonly hints: Hints
  /** Spreads the node's token revocations to every other node (null when it was given none). */
  private readonly revocationGossip: RevocationGossip | null
  /** Whether the cluster lets this process be node `self` (a second live process under an id is refused). */
  readonly identity: IdentityCheck
  /** Relays the presence of this node's clients to the other nodes serving the same docs, and theirs here. */
  readonly presence: ClusterPresence
  /** Bytes of anti-entropy messages sent by this node (not counting the doc syncs they start). */
  aeBytesSent = 0
  private readonly timers: NodeJS.Timeout[] = []
  /** Accepts inbound links (`ws`, without a server of its own: the node's HTTP server hands it upgrades). */
  private readonly peerServer: WebSocketServer
  private indexReady = false

  /** The names link tokens addressed to this node may carry as their audience (`nodeAudiences`). */
  readonly audiences: readonly string[]

  constructor(
    private readonly config: ServerConfig,
    self: { id: string; url: string; store: string; audiences?: readonly string[] },
    private readonly registry: DocRegistry,
    private readonly storage: Pick<DocLog, 'list' | 'load'> & VersionStore & Pick<Tombstones, 'tombstoneOf' | 'listTombstones'> & HintStore,
    private readonly log: Logger,
    presencePolicy: PresencePolicy,
    /** CA certificates that outgoing wss:// links trust (`--peer-ca`); null: the system's. */
    peerCa: Buffer | null = null,
    revocations: Revocations | null = null,
  ) {
    this.self = asNodeId(self.id)
    this.url = self.url
    this.audiences = self.audiences ?? [self.id, normalizePeerUrl(self.url)]
    const secret = config.clusterSecret ?? ''
    this.links = new PeerLinks({
      self: { id: this.self, url: this.url, boot: randomBytes(8).toString('hex'), store: self.store },
      isAlive: (peer) => this.membership.member(peer)?.state === MemberState.alive,
      secret,
      ca: peerCa,
      log,
      maxQueueBytes: 16 * 1024 * 1024,
      maxFrameBytes: config.maxFrameBytes,
      peerFrameBytes: config.peerFrameBytes,
      // A message in pieces holds at most a doc's state and then some (sync messages carry changes).
      maxMessageBytes: Math.max(config.maxFrameBytes, 2 * config.maxDocBytes),
      pingIntervalMs: Math.max(1000, config.probeIntervalMs * 2),
    })
    this.peerServer = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
    this.placement = new Placement(config.replicationFactor)
    this.placement.setMembers([this.self])
    this.hints = new Hints(storage, parseDocKey, docKeyString, log)
    this.replication = new Replication(
      this.self,
      registry,
      this.links,
      this.placement,
      this.index,
      log,
      config.replicationTimeoutMs,
      () => this.membership.members().filter((m) => m.state !== MemberState.left).map((m) => m.id),
      this.hints,
    )
    registry.replication = this.replication
    this.versions = new VersionReplication({
      self: this.self,
      replicasOf: (doc) => this.placement.replicasOf(locate(docKeyString(doc)).partition),
      sharedPartitions: (peer) => this.placement.sharedPartitions(this.self, peer),
      send: (peer, msg) => this.links.send(peer, msg),
      storage,
      log,
    })
    this.membershipOptions = {
      ...DEFAULT_MEMBERSHIP_OPTIONS,
      self: { id: this.self, url: this.url },
      probeIntervalMs: config.probeIntervalMs,
      probeTimeoutMs: Math.max(50, Math.round(config.probeIntervalMs / 2)),
    }
    this.membership = new Membership(
      this.membershipOptions,
      {
        now: () => Date.now(),
        random: () => Math.random(),
        send: (to, msg) => {
          this.links.send(to, { type: PeerMessageType.swim, msg })
        },
      },
    )
    this.antiEntropy = new AntiEntropy({
      index: this.index,
      sharedPartitions: (peer) => this.placement.sharedPartitions(this.self, peer),
      send: (peer, msg) => {
        this.aeBytesSent += this.sendCounted(peer, msg)
      },
      repair: (peer, key) => this.replication.repair(peer, key),
      refresh: () => this.replication.refreshIndex(),
    }, this.self)

    this.revocationGossip =
      revocations === null ? null : new RevocationGossip({ revocations, connectedPeers: () => this.links.connectedPeers(), send: (peer, msg) => this.links.send(peer, msg), log })

    this.presence = new ClusterPresence({
      doc: (ref) => presenceDoc(registry, ref),
      send: (peer, msg) => this.links.send(peer, msg, true),
      connected: () => this.links.connectedPeers(),
      policy: presencePolicy,
      refused: (peer, doc, err) => log.warn({ peer, doc: doc.docId, err }, 'refused presence relayed by a peer node'),
    })
    const presence = this.presence
    registry.presence = {
      served: (doc, on) => presence.serve(doc.key, on),
      announced: (doc, update, origin) => presence.announced(doc.key, update, origin),
      ephemeral: (doc, sender, payload) => presence.ephemeral(doc.key, sender, payload),
      spokenElsewhere: (doc, sender) => presence.spokenByPeer(doc.key, sender),
    }

    this.identity = new IdentityCheck(this.self, config.peers.length === 0, log, (error) => {
      // Whatever this process served is dropped, its clients told why; nothing more is acknowledged.
      for (const doc of registry.loadedDocs()) doc.fail(error)
    })
    registry.gate = () => this.identity.error()
    this.links.on('admitted', (peer, url) => this.identity.admitted(peer, url))
    this.links.on('refused', (who, reason) => this.identity.refused(who, reason))

    this.membership.on('change', (m) => this.onMember(m))
    this.links.on('up', (peer) => {
      this.presence.linkUp(peer)
      const url = this.links.urlOf(peer)
      if (url !== undefined) this.membership.addSeed(peer, url)
      this.replication.linkUp(peer)
      this.versions.linkUp(peer)
      this.revocationGossip?.linkUp(peer)
      // After every reconnect: compare at once rather than wait for the next round.
      if (this.indexReady) this.antiEntropy.startRound(peer)
    })
    this.links.on('down', (peer) => {
      this.replication.linkDown(peer)
      this.presence.linkDown(peer)
    })
    this.links.on('lost', (peer) => {
      this.replication.linkLost(peer)
      if (this.indexReady) this.antiEntropy.startRound(peer)
    })
    this.links.on('message', (peer, msg) => this.onMessage(peer, msg))
  }

  private sendCounted(peer: NodeId, msg: PeerMessage): number {
    return this.links.send(peer, msg) ? encodePeerMessage(msg).length : 0
  }

  /** Build the version index from storage, then start membership, links and anti-entropy. */
  async start(): Promise<void> {
    // Hints a previous run left are replayed when their peers' links come up.
    const hinted = await this.hints.load()
    if (hinted > 0) this.log.info({ hints: hinted }, 'hints from the previous run, to hand over')
    // A peer that linked in (an inbound link) while they were read gets them now.
    for (const peer of this.links.connectedPeers()) this.replication.replayHints(peer)
    for (const seed of this.config.peers) this.links.dial(seed)
    const tick = setInterval(() => this.membership.tick(), Math.max(10, Math.min(50, this.config.probeIntervalMs / 10)))
    tick.unref()
    this.timers.push(tick)
    await Promise.all([this.buildIndex(), this.versions.start()])
    // No doc is served (so nothing handed off) before a peer has admitted this node's id, or none answered.
    const wait = setTimeout(() => this.identity.timedOut(), Math.max(2000, 10 * this.config.probeIntervalMs))
    await this.identity.settled
    clearTimeout(wait)
    this.indexReady = true
    for (const peer of this.links.connectedPeers()) this.versions.compare(peer)
    this.replication.handOffUnowned(this.index.keys())
    const ae = setInterval(() => this.antiEntropyRound(), this.config.antiEntropyMs)
    ae.unref()
    this.timers.push(ae)
  }

  /**
   * Versions of every stored doc and every tombstone, read once at start (loaded docs and deletes keep
   * it current afterwards).
   */
  private async buildIndex(): Promise<void> {
    let deleted: DocKey | undefined
    for (;;) {
      const page = await this.storage.listTombstones({ limit: 1000, after: deleted?.docId, afterEngine: deleted?.engine })
      for (const t of page) this.index.setDeleted(docKeyString(t), t.deletedAt)
      if (page.length < 1000) break
      deleted = page[page.length - 1]
    }
    let after: DocKey | undefined
    for (;;) {
      const page = await this.storage.list({ limit: 1000, after: after?.docId, afterEngine: after?.engine })
      for (const key of page) {
        const stored = await this.storage.load(key)
        if (stored === null) continue
        try {
          const doc = getEngine(key.engine).load(stored.snapshot, stored.updates)
          this.index.set(docKeyString(key), doc.version())
          doc.destroy()
        } catch (err) {
          this.log.error({ err, doc: key.docId }, 'could not read a stored doc while building the version index')
        }
      }
      if (page.length < 1000) break
      after = page[page.length - 1]
    }
  }

  /** One anti-entropy round with the next connected peer, in ring order, that shares partitions with us. */
  antiEntropyRound(): void {
    if (!this.indexReady) return
    const candidates = this.links
      .connectedPeers()
      .filter((p) => this.placement.sharedPartitions(this.self, p).length > 0)
    const peer = this.antiEntropy.nextPeer(candidates)
    if (peer === null) return
    this.antiEntropy.startRound(peer)
    this.versions.compare(peer)
  }

  private onMember(m: MemberInfo): void {
    if (m.id !== this.self) {
      if (m.state === MemberState.left) {
        this.links.forget(m.url)
        this.replication.forgetPeer(m.id)
      } else this.links.dial(m.url)
      // A dead node's clients are gone: their presence goes with them, everywhere, within detection time.
      if (m.state === MemberState.dead || m.state === MemberState.left) this.presence.peerDead(m.id)
      else if (m.state === MemberState.alive && this.links.isUp(m.id)) this.presence.linkUp(m.id)
    }
    // Down members keep their partitions: only a decommission (left) moves ownership.
    const owners = this.membership.members().filter((x) => x.state !== MemberState.left).map((x) => x.id)
    if (this.placement.setMembers(owners) && this.indexReady) {
      this.replication.refreshIndex()
      this.replication.handOffUnowned(this.index.keys())
    }
  }

  private onMessage(peer: NodeId, msg: PeerMessage): void {
    if (msg.type === PeerMessageType.swim) this.membership.receive(peer, msg.msg)
    else if (isPresenceMessage(msg)) this.presence.receive(peer, msg)
    else if (isAe(msg)) this.antiEntropy.receive(peer, msg)
    else if (isVersionMessage(msg)) void this.versions.receive(peer, msg)
    else if (msg.type === PeerMessageType.revocations) this.revocationGossip?.receive(msg.entries)
    else this.replication.receive(peer, msg)
  }

  /** An authenticated inbound link from the /peer endpoint. */
  accept(ws: WebSocket, peer: { id: string; url: string }): void {
    this.links.accept(ws, peer)
  }

  /** Take over the upgrade of a `/peer` request whose node the authenticator recognised. */
  acceptUpgrade(req: IncomingMessage, tcp: Duplex, head: Buffer, peer: PeerIdentity): void {
    this.peerServer.handleUpgrade(req, tcp, head, (ws) => this.accept(ws, peer))
  }

  /** The state GET /v1/cluster shows. */
  describe(): unknown {
    const connected = new Set(this.links.connectedPeers())
    return {
      self: this.self,
      url: this.url,
      replicationFactor: Math.min(this.config.replicationFactor, this.placement.size),
      members: this.membership.members().map((m) => ({
        id: m.id,
        url: m.url,
        httpUrl: m.url.replace(/^ws/u, 'http'),
        state: m.state,
        incarnation: m.incarnation,
        rttMs: m.rttMs,
        connected: m.id === this.self || connected.has(m.id),
      })),
      antiEntropy: { ...this.antiEntropy.stats, bytesSent: this.aeBytesSent, indexReady: this.indexReady, docs: this.index.size },
      replication: { ...this.replication.stats, hintsPending: this.hints.count, hintsStored: this.hints.stored, linkDrops: this.links.dropped },
      chunks: { ...this.links.chunks, inProgress: this.links.chunkedInProgress },
      membership: { ...this.membership.counters, localHealth: this.membership.localHealth },
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t)
    // A shutdown is not a decommission: `left` is final and would move this node's partitions away for
    // good. The others mark it dead; it refutes when it comes back.
    this.replication.close()
    this.revocationGossip?.close()
    this.links.close()
    this.peerServer.close()
  }
}

/** A loaded doc as the presence relay sees it: its table, and its subscribers to tell. */
function presenceDoc(registry: DocRegistry, ref: DocRef): PresenceDoc | undefined {
  const live = registry.peek(ref)
  if (live === undefined) return undefined
  return {
    awareness: live.awareness,
    deliverAwareness: (update) => {
      for (const sub of live.subscribers) sub.deliverAwareness(update)
    },
    deliverEphemeral: (sender, payload) => {
      for (const sub of live.subscribers) sub.deliverEphemeral?.(sender, payload)
    },
    speaksAs: (sender) => [...live.subscribers].some((sub) => sub.presenceId === sender),
  }
}
