import type { NodeId } from '@murmur/shared'
import { LEAVES } from './placement.js'
import { PeerMessageType, type PeerMessage } from './peer-protocol.js'
import type { VersionIndex } from './version-index.js'

type AeMessage = Extract<PeerMessage, { type: 7 | 8 | 9 | 10 }>

export interface AntiEntropyEnv {
  readonly index: VersionIndex
  /** Partitions this node and `peer` both replicate (as this node sees placement). */
  sharedPartitions(peer: NodeId): number[]
  send(peer: NodeId, msg: AeMessage): void
  /** Bring one doc in line with `peer` (the node runs the engine sync; the simulation swaps sets). */
  repair(peer: NodeId, key: string): void
  /** Make the index current (versions of docs changed since the last round) before digests are read. */
  refresh(): void
}

export interface AntiEntropyStats {
  /** Rounds this node started. */
  rounds: number
  /** Rounds it started that the peer answered. */
  completed: number
  /** Docs repaired, as this node or its peers reported. */
  docsRepaired: number
  /** Docs repaired in the most recent completed round (≈ 0 in steady state). */
  lastRoundRepaired: number
}

/**
 * Anti-entropy between two replicas (Merkle-style, as in Dynamo/Riak AAE but over a fixed two-level
 * tree): 1) the initiator sends the digests of the partitions both replicate; 2) the peer answers with
 * the leaf digests of the partitions that differ; 3) the initiator sends its docs and versions in the
 * leaves that differ; 4) the peer starts a sync of every doc whose version differs or that only one side
 * has, and reports how many. A round with nothing different costs one message each way.
 */
export class AntiEntropy {
  private round = 0
  /** The peer of the last scheduled round (`nextPeer`), or null before the first. */
  private lastPeer: NodeId | null = null
  readonly stats: AntiEntropyStats = { rounds: 0, completed: 0, docsRepaired: 0, lastRoundRepaired: 0 }
  /** Called when a round this node started completes, with the number repaired. */
  onRoundDone: ((peer: NodeId, repaired: number) => void) | null = null

  constructor(
    private readonly env: AntiEntropyEnv,
    private readonly self: NodeId,
  ) {}

  /**
   * The peer of the next scheduled round: round robin over `candidates` (the reachable peers that share
   * partitions with this node) in ring order of node ids, starting after this node. With P candidates
   * that stay the same, any P consecutive rounds meet every one of them once, so every pair of replicas
   * compares within P intervals (the bound in docs/cluster.md); starting after itself spreads the nodes'
   * rounds over different peers. Null when there is no candidate.
   */
  nextPeer(candidates: readonly NodeId[]): NodeId | null {
    if (candidates.length === 0) return null
    const ring = [...candidates].sort()
    const after = this.lastPeer ?? this.self
    const next = ring.find((p) => p > after) ?? ring[0]
    this.lastPeer = next
    return next
  }

  startRound(peer: NodeId): void {
    this.env.refresh()
    const parts = this.env.sharedPartitions(peer)
    const digests = new Uint8Array(parts.length * 8)
    const view = new DataView(digests.buffer)
    parts.forEach((p, i) => view.setBigUint64(i * 8, this.env.index.partitionDigest(p)))
    this.stats.rounds++
    this.env.send(peer, { type: PeerMessageType.aeTop, round: ++this.round, partitions: Uint16Array.from(parts), digests })
  }

  receive(peer: NodeId, msg: AeMessage): void {
    switch (msg.type) {
      case PeerMessageType.aeTop:
        return this.onTop(peer, msg)
      case PeerMessageType.aeLeaves:
        return this.onLeaves(peer, msg)
      case PeerMessageType.aeDocs:
        return this.onDocs(peer, msg)
      case PeerMessageType.aeDone:
        this.stats.completed++
        this.stats.lastRoundRepaired = msg.repaired
        this.stats.docsRepaired += msg.repaired
        this.onRoundDone?.(peer, msg.repaired)
        return
    }
  }

  private onTop(peer: NodeId, msg: Extract<AeMessage, { type: 7 }>): void {
    this.env.refresh()
    const mine = new Set(this.env.sharedPartitions(peer))
    const view = new DataView(msg.digests.buffer, msg.digests.byteOffset, msg.digests.byteLength)
    const differing: number[] = []
    msg.partitions.forEach((p, i) => {
      if (!mine.has(p) || (i + 1) * 8 > msg.digests.byteLength) return
      if (view.getBigUint64(i * 8) !== this.env.index.partitionDigest(p)) differing.push(p)
    })
    if (differing.length === 0) {
      this.env.send(peer, { type: PeerMessageType.aeDone, round: msg.round, repaired: 0 })
      return
    }
    const leaves = new Uint8Array(differing.length * LEAVES * 8)
    differing.forEach((p, i) => leaves.set(this.env.index.leafDigestBytes(p), i * LEAVES * 8))
    this.env.send(peer, { type: PeerMessageType.aeLeaves, round: msg.round, partitions: Uint16Array.from(differing), leaves })
  }

  private onLeaves(peer: NodeId, msg: Extract<AeMessage, { type: 8 }>): void {
    const slots: number[] = []
    msg.partitions.forEach((p, i) => {
      const theirs = new DataView(msg.leaves.buffer, msg.leaves.byteOffset + i * LEAVES * 8, LEAVES * 8)
      const mine = new DataView(this.env.index.leafDigestBytes(p).buffer)
      for (let l = 0; l < LEAVES; l++) if (theirs.getBigUint64(l * 8) !== mine.getBigUint64(l * 8)) slots.push(p * LEAVES + l)
    })
    const docs = slots.flatMap((s) => this.env.index.docsInLeaf(s))
    this.env.send(peer, { type: PeerMessageType.aeDocs, round: msg.round, leaves: Uint32Array.from(slots), docs })
  }

  private onDocs(peer: NodeId, msg: Extract<AeMessage, { type: 9 }>): void {
    const theirs = new Map(msg.docs.map((d) => [d.key, d.version]))
    const differing = new Set<string>()
    for (const slot of msg.leaves) {
      for (const { key, version } of this.env.index.docsInLeaf(slot)) if (theirs.get(key) !== version) differing.add(key)
    }
    for (const [key, version] of theirs) {
      const mine = this.env.index.version(key)
      if (mine === undefined || mine.slice(0, version.length) !== version) differing.add(key)
    }
    for (const key of differing) this.env.repair(peer, key)
    this.env.send(peer, { type: PeerMessageType.aeDone, round: msg.round, repaired: differing.size })
  }
}
