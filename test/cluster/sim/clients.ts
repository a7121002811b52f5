import type { NodeId } from '@murmur/shared'
import { NodeChoice, RetryReason } from '../../../client/dist/node-choice.js'
import { REPLICA_RETRY_MS } from '../../../client/dist/handles/doc-handle.js'
import { between, mulberry32 } from './network.js'
import type { AckedWrite, ReplicaCluster } from './replicas.js'

/**
 * SDK clients on the replica simulation: each keeps an outbox of edits not yet acknowledged, is on one
 * node at a time, and when that node dies chooses where to go next with the SDK's own `NodeChoice`
 * (the real choice of node and backoff, on the virtual clock and a seeded random). Like the SDK it sends
 * an edit when it is made (if connected) and its whole outbox again, under the same ids, to every node
 * that welcomes it, and again a little later when a write's replicas did not answer in time
 * (MUR_ERR_REPLICATION_TIMEOUT); an ack removes an edit from the outbox. An edit is a fresh element of a
 * doc: its id.
 *
 * A client's socket runs over its own loopback-like link (1–25 ms each way, no loss: TCP); a node that
 * is killed drops its sockets at once, and refuses connections until it runs again.
 */

/** One way over a client's socket. */
const LINK_MS = { min: 1, max: 25 }

interface Connected {
  readonly node: NodeId
  /** The node's run when it welcomed us: a restarted node is a new connection. */
  readonly epoch: number
}

export class SimClient {
  readonly choice: NodeChoice
  /** Edits made, in order; each is an element id `${name}/${k}`. */
  readonly edits: { readonly key: string; readonly element: string }[] = []
  /** Edits not acknowledged yet, by element. */
  readonly outbox = new Map<string, string>()
  /** Edits acknowledged, each once. */
  readonly acked = new Set<string>()
  /** Acks for edits already acknowledged (a resend the new node acknowledged again); not counted twice. */
  reacks = 0
  /** Edits sent to a node that already held them (a resend of what a dead node had taken). */
  alreadyHeld = 0
  /** Edits made while the client had no node. */
  offlineEdits = 0
  /** Every welcome, in order: the node and when. */
  readonly welcomes: { readonly node: NodeId; readonly at: number }[] = []
  private on: Connected | null = null
  /** Bumped on every connect attempt and drop, so a stale attempt or delivery is ignored. */
  private attempt = 0
  /** A resend after a replica timeout is due. */
  private resendDue = false

  constructor(
    readonly name: string,
    private readonly group: SimClients,
    readonly w: number,
    urls: readonly NodeId[],
  ) {
    this.choice = new NodeChoice(urls, { random: mulberry32(Math.floor(group.rng() * 2 ** 32)) })
  }

  get node(): NodeId | null {
    return this.on?.node ?? null
  }

  start(): void {
    this.connect()
  }

  /** A local edit to doc `key`: into the outbox, and sent at once when connected. */
  edit(key: string): void {
    const element = `${this.name}/${this.edits.length}`
    this.edits.push({ key, element })
    this.outbox.set(element, key)
    if (this.on === null) this.offlineEdits++
    else this.send(this.on, key, element)
  }

  /** An ack from `write.coordinator` (the group routes it here). */
  ack(write: AckedWrite): void {
    const on = this.on
    if (on === null || on.node !== write.coordinator) return
    this.group.later(() => {
      if (this.on !== on) return
      if (this.outbox.delete(write.element)) this.acked.add(write.element)
      else if (this.acked.has(write.element)) this.reacks++
    })
  }

  /** `write.coordinator` could not get the write's replicas to answer in time: it says so. */
  timedOut(write: AckedWrite): void {
    const on = this.on
    if (on === null || on.node !== write.coordinator) return
    this.group.later(() => {
      if (this.on !== on || !this.outbox.has(write.element) || this.resendDue) return
      // As the SDK does: the whole outbox again, a jittered pause later.
      this.resendDue = true
      this.group.at(this.group.now() + REPLICA_RETRY_MS * (1 + this.group.rng()), () => {
        this.resendDue = false
        if (this.on === on) for (const [element, key] of this.outbox) this.send(on, key, element)
      })
    })
  }

  /** The node the client is on was killed: the socket drops. */
  nodeKilled(node: NodeId): void {
    const on = this.on
    if (on?.node !== node) return
    this.group.later(() => {
      if (this.on !== on) return
      this.on = null
      this.retry(RetryReason.dropped)
    })
  }

  private send(on: Connected, key: string, element: string): void {
    this.group.later(() => {
      if (this.on !== on || !this.group.reachable(on.node, on.epoch)) return
      if (this.group.cluster.holding(on.node, key)?.has(element) === true) this.alreadyHeld++
      this.group.cluster.write(on.node, key, element, this.w)
    })
  }

  private connect(): void {
    const node = this.choice.url as NodeId
    const attempt = ++this.attempt
    // The socket opens and the node answers the hello: one round trip.
    this.group.later(() => {
      if (this.attempt !== attempt) return
      const epoch = this.group.epochOf(node)
      this.group.later(() => {
        if (this.attempt !== attempt) return
        if (!this.group.reachable(node, epoch)) return this.retry(RetryReason.unreachable)
        const on: Connected = { node, epoch }
        this.on = on
        this.choice.connected()
        this.welcomes.push({ node, at: this.group.now() })
        for (const [element, key] of this.outbox) this.send(on, key, element)
      })
    })
  }

  private retry(reason: RetryReason): void {
    const attempt = ++this.attempt
    const wait = this.choice.retry(reason, this.group.now())
    this.group.at(this.group.now() + wait, () => {
      if (this.attempt === attempt) this.connect()
    })
  }
}

/** The clients of one simulated run, and the wiring between them and the cluster. */
export class SimClients {
  readonly clients: SimClient[] = []
  readonly rng: () => number
  /** Each node's run: bumped when it is killed, so the sockets of an earlier run never deliver. */
  private readonly epochs = new Map<NodeId, number>()

  constructor(readonly cluster: ReplicaCluster) {
    this.rng = mulberry32(Math.floor(cluster.sim.rng() * 2 ** 32))
    const owner = (w: AckedWrite) => this.byName.get(w.element.slice(0, w.element.indexOf('/')))
    cluster.onAck = (w) => owner(w)?.ack(w)
    cluster.onTimeout = (w) => owner(w)?.timedOut(w)
  }

  private readonly byName = new Map<string, SimClient>()

  add(name: string, w: number, urls: readonly NodeId[]): SimClient {
    const client = new SimClient(name, this, w, urls)
    this.clients.push(client)
    this.byName.set(name, client)
    client.start()
    return client
  }

  /** Kill `node` (the cluster crashes it) and drop the sockets its clients had. */
  kill(node: NodeId): void {
    this.cluster.crash(node)
    this.epochs.set(node, this.epochOf(node) + 1)
    for (const c of this.clients) c.nodeKilled(node)
  }

  epochOf(node: NodeId): number {
    return this.epochs.get(node) ?? 0
  }

  reachable(node: NodeId, epoch: number): boolean {
    return this.cluster.isRunning(node) && this.epochOf(node) === epoch
  }

  now(): number {
    return this.cluster.sim.now
  }

  at(when: number, fn: () => void): void {
    this.cluster.sim.queue.schedule(when, fn)
  }

  /** Run `fn` one link delay from now. */
  later(fn: () => void): void {
    this.at(this.now() + between(this.rng, LINK_MS.min, LINK_MS.max), fn)
  }
}
