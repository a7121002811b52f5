import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { PeerIdentity } from '../auth/authenticator.js'
import { asNodeId, getEngine, type NodeId } from '@murmur/shared'
import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'
import type { DocKey, DocLog, VersionStore } from '../storage/storage.js'
import { AntiEntropy } from './anti-entropy.js'
import { PeerLinks } from './links.js'
import { Membership, DEFAULT_MEMBERSHIP_OPTIONS } from './membership.js'
import { MemberState, type MemberInfo, type MembershipOptions } from './membership-api.js'
import { PeerMessageType, encodePeerMessage, type PeerMessage } from './peer-protocol.js'
import { Placement, locate } from './placement.js'
import { Replication, docKeyString } from './replication.js'
import { VersionIndex } from './version-index.js'
import { VersionReplication } from './version-replication.js'

type AeMessage = Extract<PeerMessage, { type: 7 | 8 | 9 | 10 }>

function isAe(msg: PeerMessage): msg is AeMessage {
  return msg.type >= PeerMessageType.aeTop && msg.type <= PeerMessageType.aeDone
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
  /** Bytes of anti-entropy messages sent by this node (not counting the doc syncs they start). */
  aeBytesSent = 0
  private readonly timers: NodeJS.Timeout[] = []
  /** Accepts inbound links (`ws`, without a server of its own: the node's HTTP server hands it upgrades). */
  private readonly peerServer: WebSocketServer
  private indexReady = false

  constructor(
    private readonly config: ServerConfig,
    self: { id: string; url: string },
    private readonly registry: DocRegistry,
    private readonly storage: Pick<DocLog, 'list' | 'load'> & Pick<VersionStore, 'putVersion' | 'deleteVersion'>,
    private readonly log: Logger,
  ) {
    this.self = asNodeId(self.id)
    this.url = self.url
    const secret = config.clusterSecret ?? ''
    this.links = new PeerLinks({
      self: { id: this.self, url: this.url },
      secret,
      log,
      maxQueueBytes: 16 * 1024 * 1024,
      maxFrameBytes: config.maxFrameBytes,
      pingIntervalMs: Math.max(1000, config.probeIntervalMs * 2),
    })
    this.peerServer = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
    this.placement = new Placement(config.replicationFactor)
    this.placement.setMembers([this.self])
    this.replication = new Replication(this.self, registry, this.links, this.placement, this.index, log, config.replicationTimeoutMs, () =>
      this.membership.members().filter((m) => m.state !== MemberState.left).map((m) => m.id),
    )
    registry.replication = this.replication
    this.versions = new VersionReplication({
      self: this.self,
      replicasOf: (doc) => this.placement.replicasOf(locate(docKeyString(doc)).partition),
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
    })

    this.membership.on('change', (m) => this.onMember(m))
    this.links.on('up', (peer) => {
      const url = this.links.urlOf(peer)
      if (url !== undefined) this.membership.addSeed(peer, url)
      this.replication.linkUp(peer)
      this.versions.linkUp(peer)
      // After every reconnect: compare at once rather than wait for the next round.
      if (this.indexReady) this.antiEntropy.startRound(peer)
    })
    this.links.on('down', (peer) => this.replication.linkDown(peer))
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
    for (const seed of this.config.peers) this.links.dial(seed)
    const tick = setInterval(() => this.membership.tick(), Math.max(10, Math.min(50, this.config.probeIntervalMs / 10)))
    tick.unref()
    this.timers.push(tick)
    await this.buildIndex()
    this.indexReady = true
    this.replication.handOffUnowned(this.index.keys())
    const ae = setInterval(() => this.antiEntropyRound(), this.config.antiEntropyMs)
    ae.unref()
    this.timers.push(ae)
  }

  /** Versions of every stored doc, read once at start (loaded docs keep it current afterwards). */
  private async buildIndex(): Promise<void> {
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

  /** One anti-entropy round with a random connected peer that shares partitions with us. */
  antiEntropyRound(): void {
    if (!this.indexReady) return
    const candidates = this.links
      .connectedPeers()
      .filter((p) => this.placement.sharedPartitions(this.self, p).length > 0)
    if (candidates.length === 0) return
    this.antiEntropy.startRound(candidates[Math.floor(Math.random() * candidates.length)])
  }

  private onMember(m: MemberInfo): void {
    if (m.id !== this.self) {
      if (m.state === MemberState.left) this.links.forget(m.url)
      else this.links.dial(m.url)
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
    else if (isAe(msg)) this.antiEntropy.receive(peer, msg)
    else if (msg.type === PeerMessageType.versionPut || msg.type === PeerMessageType.versionDelete) this.versions.receive(msg)
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
      replication: { ...this.replication.stats, hintsPending: this.replication.hintCount, linkDrops: this.links.dropped },
      membership: { ...this.membership.counters, localHealth: this.membership.localHealth },
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t)
    // A shutdown is not a decommission: `left` is final and would move this node's partitions away for
    // good. The others mark it dead; it refutes when it comes back.
    this.replication.close()
    this.links.close()
    this.peerServer.close()
  }
}
