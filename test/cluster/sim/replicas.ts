import { sha256Hex, type NodeId } from '@murmur/shared'
import { AntiEntropy } from '../../../server/dist/cluster/anti-entropy.js'
import type { Membership } from '../../../server/dist/cluster/membership.js'
import { MemberState, type MemberInfo } from '../../../server/dist/cluster/membership-api.js'
import { PeerMessageType, decodePeerMessage, encodePeerMessage } from '../../../server/dist/cluster/peer-protocol.js'
import { Placement, locate } from '../../../server/dist/cluster/placement.js'
import { VersionIndex } from '../../../server/dist/cluster/version-index.js'
import { SimNetwork, mulberry32, type Faults, type Rng } from './network.js'
import type { Simulation } from './simulation.js'

/**
 * A simulated replica layer on top of the membership simulation: every node holds docs durably, takes
 * client writes, pushes them to the doc's replicas, and runs the real `Placement`, `VersionIndex` and
 * `AntiEntropy` over a second simulated network that shares the clock and suffers the same faults.
 *
 * A doc is a grow-only set of element ids (a CRDT: merge is union; its version is a hash of the sorted
 * set), standing in for a Yjs or Automerge doc; a repair is a two-message union exchange standing in for
 * the engine sync. The node's behaviour follows `cluster.ts` and `replication.ts`:
 * - a write is durable on the receiving node at once, pushed at once to every replica of the doc (as
 *   the receiving node sees placement; best effort), and acknowledged as the client's W asks: on the
 *   receiving node's fsync for W = 1, after W − (1 if it is a replica) replica acks for W ≥ 2;
 * - a push or repair for a peer the node does not hold alive goes to a hint (a lost link in the real
 *   node), replayed when that peer turns alive again; hints are durable (the node's storage keeps
 *   them), so a crash of the node holding them loses none;
 * - a client deletes a doc through a node: it keeps a tombstone (durable) instead of the set, tells
 *   every member it holds alive and hints the others; a tombstone beats content: a node holding one
 *   answers any push or repair of the doc with the tombstone, refuses client writes to it, and
 *   anti-entropy compares it like a version (`VersionIndex.setDeleted`), repairing with the tombstone;
 * - a node that opens a doc it does not replicate syncs it with the replicas, and again with each
 *   replica that turns alive (the real node does this for loaded docs; here a doc stays loaded for the
 *   life of the process);
 * - anti-entropy starts a round every interval with the next peer held alive that shares partitions,
 *   round robin in ring order (`AntiEntropy.nextPeer`), and at once with a peer that turns alive (the
 *   real node: after every link connect).
 */

type AeMessage = Parameters<AntiEntropy['receive']>[1]

/** What replicas send each other (besides membership, which travels on the membership network). */
type ReplicaMessage =
  /** A client write pushed to a replica; `reqId` > 0 asks for `pushAck` once it is durable there. */
  | { readonly kind: 'push'; readonly key: string; readonly element: string; readonly reqId: number }
  | { readonly kind: 'pushAck'; readonly reqId: number }
  /** Repair, step 1: the sender's whole set; the receiver merges it and answers with its own. */
  | { readonly kind: 'offer'; readonly key: string; readonly elements: string[] }
  /** Repair, step 2. */
  | { readonly kind: 'answer'; readonly key: string; readonly elements: string[] }
  /** The doc is deleted: the receiver replaces whatever it holds with a tombstone. */
  | { readonly kind: 'delete'; readonly key: string; readonly deletedAt: number }
  /** An anti-entropy message, in the real peer-protocol encoding (base64). */
  | { readonly kind: 'ae'; readonly frame: string }

/** `gen` is the receiver's run when the message was sent: a restarted process never gets the old link's messages. */
interface Envelope {
  readonly gen: number
  readonly msg: ReplicaMessage
}

const encoder = new TextEncoder()

/** `locate` hashes the key; the simulation asks for the same few keys over and over. */
const partitions = new Map<string, number>()
function partitionOf(key: string): number {
  let p = partitions.get(key)
  if (p === undefined) partitions.set(key, (p = locate(key).partition))
  return p
}

/**
 * A `Placement` for a member set, built once and never changed after, so nodes (and runs) holding the
 * same set share it: hashing every partition for every member on every view change dominated the run.
 */
const placements = new Map<string, Placement>()
function placementFor(replicationFactor: number, members: readonly NodeId[]): Placement {
  const sorted = [...new Set(members)].sort()
  const key = `${replicationFactor}|${sorted.join()}`
  let placement = placements.get(key)
  if (placement === undefined) {
    if (placements.size >= 2000) placements.clear()
    placement = new Placement(replicationFactor)
    placement.setMembers(sorted)
    placements.set(key, placement)
  }
  return placement
}

/** `Placement.sharedPartitions` scans every partition; memoised per placement, which never changes. */
const shared = new WeakMap<Placement, Map<string, number[]>>()
function sharedPartitions(placement: Placement, a: NodeId, b: NodeId): number[] {
  let memo = shared.get(placement)
  if (memo === undefined) shared.set(placement, (memo = new Map()))
  let parts = memo.get(`${a}\u0000${b}`)
  if (parts === undefined) memo.set(`${a}\u0000${b}`, (parts = placement.sharedPartitions(a, b)))
  return parts
}

const versions = new WeakMap<ReadonlySet<string>, { size: number; version: string }>()

/**
 * The version of a set: the same elements give the same version on every node. A node's set only
 * grows, so its size tells whether a version computed earlier still holds.
 */
export function setVersion(elements: ReadonlySet<string> | undefined): string {
  if (elements === undefined) return sha256Hex(new Uint8Array())
  const cached = versions.get(elements)
  if (cached?.size === elements.size) return cached.version
  const version = sha256Hex(encoder.encode([...elements].sort().join('\n')))
  versions.set(elements, { size: elements.size, version })
  return version
}

/** One acknowledged write, kept for the checks and for failure messages. */
export interface AckedWrite {
  readonly key: string
  readonly element: string
  readonly at: number
  readonly coordinator: NodeId
  /** The replicas the coordinator pushed to (its placement at the time). */
  readonly replicas: readonly NodeId[]
}

/** The node's `--replication-timeout-ms` default: a W-of-N write not acked by then fails. */
export const REPLICATION_TIMEOUT_MS = 5000

export interface ReplicaOptions {
  readonly replicationFactor: number
  readonly antiEntropyMs: number
  /** False runs no anti-entropy at all (a scenario that must converge through hints alone). */
  readonly antiEntropy?: boolean
}

export interface ReplicaCounters {
  /** Client writes taken by a node, and those acknowledged. */
  attempts: number
  writes: number
  /** Acknowledged writes taken by a node that does not replicate the doc. */
  viaNonReplica: number
  pushes: number
  hintsQueued: number
  hintsReplayed: number
  /** Hints a node held when it crashed, kept by its storage for the next run. */
  hintsKeptOverCrash: number
  /** Client writes refused because the node holds the doc's tombstone. */
  refusedDeleted: number
  /** Pushes and repairs a tombstone answered (content that would have brought a deleted doc back). */
  staleAnswered: number
  repairs: number
  aeRounds: number
  aeBytes: number
}

interface ReplicaNode {
  readonly id: NodeId
  /** Durable: survives crashes (the real node acks after fsync). */
  readonly docs: Map<string, Set<string>>
  /** Durable tombstones: doc → deletion time. */
  readonly tombstones: Map<string, number>
  /** Durable hints (the node's storage): peer → docs it may lack. */
  readonly hints: Map<NodeId, Set<string>>
  /** Bumped on every crash; messages and timers of an earlier run are dropped. */
  generation: number
  run: NodeRun | null
}

/** The world a node's run talks to: the network, the clock, and the acknowledgement log. */
interface World {
  readonly options: ReplicaOptions
  readonly counters: ReplicaCounters
  /** The real `Placement` for a member set (shared between nodes that hold the same set). */
  placement(members: readonly NodeId[]): Placement
  now(): number
  /** Run `fn` at `at` if `run` is still the node's current run. */
  schedule(run: NodeRun, at: number, fn: () => void): void
  send(from: NodeId, to: NodeId, msg: ReplicaMessage): void
  ack(write: AckedWrite): void
  /** A W-of-N wait timed out. */
  timedOut(write: AckedWrite): void
}

/** One run of a node's process: everything here is volatile and lost on a crash. */
class NodeRun {
  placement: Placement
  readonly index = new VersionIndex()
  readonly antiEntropy: AntiEntropy
  /** W-of-N writes waiting for replica acks, by request id. */
  private readonly pending = new Map<number, { readonly write: AckedWrite; readonly needed: number; readonly acks: Set<NodeId> }>()
  private nextReqId = 1
  private readonly loaded = new Set<string>()
  private readonly dirty = new Set<string>()
  /** Peers this run holds alive: the simulation's stand-in for connected links. */
  private readonly alive = new Set<NodeId>()

  constructor(
    readonly id: NodeId,
    private readonly docs: Map<string, Set<string>>,
    private readonly tombstones: Map<string, number>,
    private readonly hints: Map<NodeId, Set<string>>,
    readonly membership: Membership,
    private readonly world: World,
    rng: Rng,
  ) {
    this.placement = world.placement([id])
    // The real node builds its index from storage before it starts anti-entropy.
    for (const [key, set] of docs) this.index.set(key, setVersion(set))
    for (const [key, deletedAt] of tombstones) this.index.setDeleted(key, deletedAt)
    this.antiEntropy = new AntiEntropy({
      index: this.index,
      sharedPartitions: (peer) => sharedPartitions(this.placement, this.id, peer),
      send: (peer, msg) => {
        const frame = encodePeerMessage(msg)
        this.world.counters.aeBytes += frame.length
        this.world.send(this.id, peer, { kind: 'ae', frame: Buffer.from(frame).toString('base64') })
      },
      repair: (peer, key) => {
        this.world.counters.repairs++
        this.handOver(peer, key)
      },
      refresh: () => this.refresh(),
    }, id)
    membership.on('change', (m) => this.onMember(m))
    for (const m of membership.members()) this.onMember(m)
    const interval = world.options.antiEntropyMs
    if (world.options.antiEntropy !== false) this.scheduleRound(world.now() + rng() * interval)
  }

  /**
   * A client write: durable here, pushed at once to the doc's replicas (`Replication.changed`), and
   * acknowledged as the client's `replicas` option (W) asks, with the node's semantics: once durable
   * here and on W replicas (W ≥ 1; this node counts if it replicates the doc), the other replicas acking
   * the push once durable, within the replication timeout. A write not acknowledged is not counted (the client retries).
   */
  write(key: string, element: string, w: number): void {
    this.world.counters.attempts++
    if (this.tombstones.has(key)) {
      // The client gets MUR_ERR_DOC_DELETED; nothing is stored.
      this.world.counters.refusedDeleted++
      return
    }
    this.load(key)
    this.merge(key, [element])
    const replicas = this.replicasOf(key)
    const write: AckedWrite = { key, element, at: this.world.now(), coordinator: this.id, replicas }
    // `Replication.expectAcks`: every ack involves a replica, W of them, and at least one when this node
    // does not replicate the doc. The push itself carries the request id (one push per replica).
    const effective = Math.max(1, w)
    const needed = effective > replicas.length ? 0 : effective - (replicas.includes(this.id) ? 1 : 0)
    let reqId = 0
    if (needed > 0) {
      reqId = this.nextReqId++
      const id = reqId
      this.pending.set(id, { write, needed, acks: new Set() })
      this.world.schedule(this, this.world.now() + REPLICATION_TIMEOUT_MS, () => {
        if (this.pending.delete(id)) this.world.timedOut(write)
      })
    }
    for (const r of replicas) {
      if (r === this.id) continue
      this.world.counters.pushes++
      if (this.alive.has(r)) this.world.send(this.id, r, { kind: 'push', key, element, reqId })
      else this.addHint(r, key)
    }
    if (effective <= replicas.length && needed <= 0) this.acked(write)
  }

  /**
   * A client deletes the doc through this node (`DELETE /v1/docs/…`): its tombstone replaces the set,
   * and every other member is told now or through a hint.
   */
  delete(key: string): void {
    this.tombstone(key, this.world.now())
    for (const m of this.membership.members()) {
      if (m.id === this.id || m.state === MemberState.left) continue
      this.handOver(m.id, key)
    }
  }

  private tombstone(key: string, deletedAt: number): void {
    if (this.tombstones.has(key)) return
    this.tombstones.set(key, deletedAt)
    this.docs.delete(key)
    this.dirty.delete(key)
    this.index.setDeleted(key, deletedAt)
  }

  receive(from: NodeId, msg: ReplicaMessage): void {
    // A tombstone beats content: whatever a peer pushes or offers of a deleted doc is answered with it.
    if ((msg.kind === 'push' || msg.kind === 'offer' || msg.kind === 'answer') && this.tombstones.has(msg.key)) {
      this.world.counters.staleAnswered++
      this.world.send(this.id, from, { kind: 'delete', key: msg.key, deletedAt: this.tombstones.get(msg.key) ?? 0 })
      return
    }
    switch (msg.kind) {
      case 'delete':
        this.tombstone(msg.key, msg.deletedAt)
        return
      case 'push':
        this.load(msg.key)
        this.merge(msg.key, [msg.element])
        if (msg.reqId > 0) this.world.send(this.id, from, { kind: 'pushAck', reqId: msg.reqId })
        return
      case 'pushAck': {
        // Distinct replicas: the simulated network may deliver one ack twice.
        const p = this.pending.get(msg.reqId)
        if (p === undefined) return
        p.acks.add(from)
        if (p.acks.size < p.needed) return
        this.pending.delete(msg.reqId)
        this.acked({ ...p.write, at: this.world.now() })
        return
      }
      case 'offer':
        this.load(msg.key)
        this.merge(msg.key, msg.elements)
        this.world.send(this.id, from, { kind: 'answer', key: msg.key, elements: [...(this.docs.get(msg.key) ?? [])] })
        return
      case 'answer':
        this.load(msg.key)
        this.merge(msg.key, msg.elements)
        return
      case 'ae': {
        const decoded = decodePeerMessage(Buffer.from(msg.frame, 'base64'))
        if (decoded.type >= PeerMessageType.aeTop && decoded.type <= PeerMessageType.aeDone) this.antiEntropy.receive(from, decoded as AeMessage)
        return
      }
    }
  }

  private acked(write: AckedWrite): void {
    if (!write.replicas.includes(this.id)) this.world.counters.viaNonReplica++
    this.world.ack(write)
  }

  /** Versions of the docs changed since the last call, as `Replication.refreshIndex` does. */
  refresh(): void {
    for (const key of this.dirty) this.index.set(key, setVersion(this.docs.get(key)))
    this.dirty.clear()
  }

  get hintCount(): number {
    let n = 0
    for (const s of this.hints.values()) n += s.size
    return n
  }

  private replicasOf(key: string): readonly NodeId[] {
    return this.placement.replicasOf(partitionOf(key))
  }

  private merge(key: string, elements: readonly string[]): void {
    if (elements.length === 0) return
    let set = this.docs.get(key)
    if (set === undefined) this.docs.set(key, (set = new Set()))
    const before = set.size
    for (const e of elements) set.add(e)
    if (set.size !== before) this.dirty.add(key)
  }

  /** Opening a doc this node does not replicate syncs it with the replicas (`Replication.loaded`). */
  private load(key: string): void {
    if (this.loaded.has(key)) return
    this.loaded.add(key)
    const replicas = this.replicasOf(key)
    if (replicas.includes(this.id)) return
    for (const r of replicas) this.startSync(r, key)
  }

  private startSync(peer: NodeId, key: string): void {
    if (!this.alive.has(peer)) return this.addHint(peer, key)
    this.world.send(this.id, peer, { kind: 'offer', key, elements: [...(this.docs.get(key) ?? [])] })
  }

  /** `Replication.handOver`: the tombstone of a deleted doc, else a sync. */
  private handOver(peer: NodeId, key: string): void {
    const deletedAt = this.tombstones.get(key)
    if (deletedAt === undefined) return this.startSync(peer, key)
    if (!this.alive.has(peer)) return this.addHint(peer, key)
    this.world.send(this.id, peer, { kind: 'delete', key, deletedAt })
  }

  private addHint(peer: NodeId, key: string): void {
    let set = this.hints.get(peer)
    if (set === undefined) this.hints.set(peer, (set = new Set()))
    if (!set.has(key)) this.world.counters.hintsQueued++
    set.add(key)
  }

  private onMember(m: MemberInfo): void {
    // Down members keep their partitions: only `left` moves ownership (as in `Cluster.onMember`).
    const before = this.placement
    this.placement = this.world.placement(this.membership.members().filter((x) => x.state !== MemberState.left).map((x) => x.id))
    // `Replication.handOffUnowned`: on a placement change, every doc held here but not replicated here
    // is synced with its replicas (writes taken while placement was not yet known, or before a decommission).
    if (this.placement !== before) {
      for (const key of [...this.docs.keys(), ...this.tombstones.keys()]) {
        const replicas = this.replicasOf(key)
        if (replicas.includes(this.id)) continue
        for (const r of replicas) if (r !== this.id) this.handOver(r, key)
      }
    }
    if (m.id === this.id) return
    if (m.state !== MemberState.alive) {
      this.alive.delete(m.id)
      return
    }
    if (this.alive.has(m.id)) return
    this.alive.add(m.id)
    // Not inside membership's event dispatch: at the same instant, right after it.
    this.world.schedule(this, this.world.now(), () => {
      if (this.alive.has(m.id)) this.linkUp(m.id)
    })
  }

  /** What the real node does when a link comes up: replay hints, resync loaded docs, compare at once. */
  private linkUp(peer: NodeId): void {
    const hinted = this.hints.get(peer)
    this.hints.delete(peer)
    for (const key of hinted ?? []) {
      this.world.counters.hintsReplayed++
      this.handOver(peer, key)
    }
    for (const key of this.loaded) {
      const replicas = this.replicasOf(key)
      if (!replicas.includes(this.id) && replicas.includes(peer)) this.startSync(peer, key)
    }
    this.startRound(peer)
  }

  private startRound(peer: NodeId): void {
    if (this.world.options.antiEntropy === false) return
    this.world.counters.aeRounds++
    this.antiEntropy.startRound(peer)
  }

  private scheduleRound(at: number): void {
    this.world.schedule(this, at, () => {
      const candidates = [...this.alive].filter((p) => sharedPartitions(this.placement, this.id, p).length > 0)
      const peer = this.antiEntropy.nextPeer(candidates)
      if (peer !== null) this.startRound(peer)
      this.scheduleRound(at + this.world.options.antiEntropyMs)
    })
  }
}

/** Every node of a `Simulation`, with its durable docs and (while it runs) its replica process. */
export class ReplicaCluster {
  readonly network: SimNetwork
  readonly counters: ReplicaCounters = {
    attempts: 0, writes: 0, viaNonReplica: 0, pushes: 0, hintsQueued: 0, hintsReplayed: 0, hintsKeptOverCrash: 0,
    refusedDeleted: 0, staleAnswered: 0, repairs: 0, aeRounds: 0, aeBytes: 0,
  }
  /** Every acknowledged write, per doc. */
  readonly acked = new Map<string, AckedWrite[]>()
  /** Told of every acknowledged write as the coordinator acknowledges it (simulated clients listen). */
  onAck: ((write: AckedWrite) => void) | null = null
  /** Told of every W-of-N write whose wait timed out (the node answers MUR_ERR_REPLICATION_TIMEOUT). */
  onTimeout: ((write: AckedWrite) => void) | null = null
  /** Docs a client deleted (through a node that stored the tombstone). */
  readonly deleted = new Set<string>()
  private readonly nodes = new Map<NodeId, ReplicaNode>()
  private readonly decommissioned = new Set<NodeId>()
  private readonly world: World

  constructor(
    readonly sim: Simulation,
    readonly options: ReplicaOptions,
  ) {
    this.network = new SimNetwork(sim.queue, mulberry32(Math.floor(sim.rng() * 2 ** 32)), (from, to, json) => this.deliver(from, to, json))
    this.world = {
      options,
      counters: this.counters,
      placement: (members) => placementFor(options.replicationFactor, members),
      now: () => sim.queue.now,
      schedule: (run, at, fn) =>
        sim.queue.schedule(at, () => {
          if (this.nodes.get(run.id)?.run === run) fn()
        }),
      send: (from, to, msg) => this.network.send(from, to, { gen: this.nodes.get(to)?.generation ?? 0, msg } satisfies Envelope),
      ack: (w) => {
        this.counters.writes++
        let list = this.acked.get(w.key)
        if (list === undefined) this.acked.set(w.key, (list = []))
        list.push(w)
        this.onAck?.(w)
      },
      timedOut: (w) => this.onTimeout?.(w),
    }
  }

  /** Faults apply to membership and replica traffic alike. */
  set faults(f: Faults) {
    this.sim.faults = f
    this.network.faults = f
  }

  partition(groups: readonly (readonly string[])[]): void {
    this.sim.network.partition(groups)
    this.network.partition(groups)
  }

  heal(): void {
    this.sim.network.heal()
    this.network.heal()
  }

  /** Start (or restart) a node: its durable docs are still there; it joins through `seed`. */
  start(id: NodeId, seed?: NodeId): void {
    let node = this.nodes.get(id)
    if (node === undefined) this.nodes.set(id, (node = { id, docs: new Map(), tombstones: new Map(), hints: new Map(), generation: 0, run: null }))
    this.sim.start(id, seed)
    const rng = mulberry32(Math.floor(this.sim.rng() * 2 ** 32))
    node.run = new NodeRun(id, node.docs, node.tombstones, node.hints, this.sim.membership(id), this.world, rng)
  }

  /** The process dies: durable docs, tombstones and hints stay; loaded docs and rounds in flight are gone. */
  crash(id: NodeId): void {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`${id} is unknown`)
    for (const set of node.hints.values()) this.counters.hintsKeptOverCrash += set.size
    this.sim.crash(id)
    node.run = null
    node.generation++
  }

  isRunning(id: NodeId): boolean {
    return (this.nodes.get(id)?.run ?? null) !== null
  }

  /** Running members: what clients write to and what the checks count as live. */
  running(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => this.isRunning(id) && !this.decommissioned.has(id))
  }

  /** An operator on `operator` decommissions `id`: it leaves for good and its partitions move. */
  decommission(operator: NodeId, id: NodeId): void {
    this.decommissioned.add(id)
    this.sim.act(operator, (m) => m.decommission(id))
  }

  /** A client write to a running node, acknowledged once on `w` replicas (see `NodeRun.write`). */
  write(id: NodeId, key: string, element: string, w: number): void {
    this.run(id).write(key, element, w)
  }

  /** A client deletes a doc through a running node. */
  delete(id: NodeId, key: string): void {
    this.deleted.add(key)
    this.run(id).delete(key)
  }

  /** Hints a node holds for `peer` (durable: also while it is down). */
  hintsFor(id: NodeId, peer: NodeId): number {
    return this.nodes.get(id)?.hints.get(peer)?.size ?? 0
  }

  /** Whether a node (running or not) holds the doc's tombstone. */
  holdsTombstone(id: NodeId, key: string): boolean {
    return this.nodes.get(id)?.tombstones.has(key) === true
  }

  /** A doc's replicas as the running nodes place it (they agree once views agree). */
  placedOn(key: string): readonly NodeId[] {
    return this.replicasOf(key)
  }

  /** Whether a running node places a doc on itself. */
  replicates(id: NodeId, key: string): boolean {
    return this.run(id).placement.replicasOf(partitionOf(key)).includes(id)
  }

  /** The node's durable set for a doc (also while it is down). */
  holding(id: NodeId, key: string): ReadonlySet<string> | undefined {
    return this.nodes.get(id)?.docs.get(key)
  }

  /** Docs repaired so far, as reported by completed rounds on running nodes. */
  docsRepaired(): number {
    let n = 0
    for (const node of this.nodes.values()) n += node.run?.antiEntropy.stats.docsRepaired ?? 0
    return n
  }

  /**
   * Why the cluster has not converged yet, or null once it has: membership views agree, live nodes see
   * each other alive and down nodes dead, live nodes agree on placement, every acknowledged element is
   * on every live replica of its doc (unless its only copies are on replicas that are down: unavailable
   * until they return, not lost), and all live replicas of a doc hold the same version.
   */
  divergence(): string | null {
    return this.membershipDivergence() ?? this.dataDivergence()
  }

  /** Membership alone: views agree, and show running members alive, crashed ones dead, left ones left. */
  membershipDivergence(): string | null {
    if (!this.sim.viewsAgree()) return 'membership views differ'
    for (const o of this.running()) {
      const m = this.sim.membership(o)
      for (const id of this.nodes.keys()) {
        const want = this.decommissioned.has(id) ? MemberState.left : this.isRunning(id) ? MemberState.alive : MemberState.dead
        const state = m.member(id)?.state
        if (state !== want) return `${o} sees ${id} ${state ?? 'unknown'}, not ${want}`
      }
    }
    return null
  }

  private dataDivergence(): string | null {
    const running = this.running()
    // Every doc any node holds, acknowledged writes or not: live replicas must agree on all of them.
    const keys = new Set(this.acked.keys())
    for (const node of this.nodes.values()) for (const key of node.docs.keys()) keys.add(key)
    for (const key of this.deleted) keys.add(key)
    for (const key of keys) {
      const writes = this.acked.get(key) ?? []
      const replicas = this.replicasOf(key)
      for (const o of running.slice(1)) {
        const theirs = this.run(o).placement.replicasOf(partitionOf(key))
        if (theirs.join() !== replicas.join()) return `${o} places ${key} on ${theirs.join()}, ${running[0]} on ${replicas.join()}`
      }
      const live = replicas.filter((r) => this.isLive(r))
      if (this.deleted.has(key)) {
        // Deleted for good: every live replica holds the tombstone, and no running node serves content.
        const missing = live.find((r) => !this.holdsTombstone(r, key))
        if (missing !== undefined) return `${missing} lacks the tombstone of ${key}`
        const stale = running.find((r) => this.holding(r, key) !== undefined)
        if (stale !== undefined) return `${stale} still serves deleted ${key}`
        continue
      }
      for (const w of writes) {
        const lacking = live.filter((r) => this.holding(r, key)?.has(w.element) !== true)
        if (lacking.length === 0) continue
        if (lacking.length < live.length) return `${lacking[0]} lacks ${this.describe(w)}`
        if (!replicas.some((r) => this.holding(r, key)?.has(w.element) === true)) return `no replica holds ${this.describe(w)}`
      }
      const versions = new Set(live.map((r) => setVersion(this.holding(r, key))))
      if (versions.size > 1) return `replicas of ${key} (${live.join()}) hold ${versions.size} versions`
    }
    return null
  }

  /** Acknowledged elements no live replica holds (their copies are on replicas that are down). */
  unavailable(): number {
    let n = 0
    for (const [key, writes] of this.acked) {
      if (this.deleted.has(key)) continue
      const live = this.replicasOf(key).filter((r) => this.isLive(r))
      for (const w of writes) if (!live.some((r) => this.holding(r, key)?.has(w.element) === true)) n++
    }
    return n
  }

  private isLive(id: NodeId): boolean {
    return this.isRunning(id) && !this.decommissioned.has(id)
  }

  /** A doc's replicas as the first running node places it (`divergence` checks that all agree). */
  private replicasOf(key: string): readonly NodeId[] {
    const first = this.running()[0]
    return first === undefined ? [] : this.run(first).placement.replicasOf(partitionOf(key))
  }

  /** An acknowledged element no node holds durably, if any (there must never be one). */
  lost(): string | null {
    for (const [key, writes] of this.acked) {
      // A delete takes every write to the doc with it, those before it and those concurrent with it.
      if (this.deleted.has(key)) continue
      for (const w of writes) {
        if (![...this.nodes.keys()].some((id) => this.holding(id, w.key)?.has(w.element) === true)) return this.describe(w)
      }
    }
    return null
  }

  /** Where an acknowledged element came from and where it is now, for failure messages. */
  describe(w: AckedWrite): string {
    const holders = [...this.nodes.keys()].filter((id) => this.holding(id, w.key)?.has(w.element) === true)
    return (
      `${w.key}/${w.element} (acked by ${w.coordinator} at ${w.at}ms, pushed to [${w.replicas.join()}]; ` +
      `held by [${holders.join()}]; ${w.coordinator} is ${this.isRunning(w.coordinator) ? `running with ${this.run(w.coordinator).hintCount} hints` : 'down'})`
    )
  }

  private run(id: NodeId): NodeRun {
    const run = this.nodes.get(id)?.run
    if (run === null || run === undefined) throw new Error(`${id} is not running`)
    return run
  }

  private deliver(from: string, to: string, json: string): void {
    const node = this.nodes.get(to as NodeId)
    const env = JSON.parse(json) as Envelope
    if (node?.run === null || node?.run === undefined || node.generation !== env.gen) return
    node.run.receive(from as NodeId, env.msg)
  }
}
