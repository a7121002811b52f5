import { AwarenessTable, PresenceQuota, UNLIMITED_PRESENCE, decodeAwarenessEntries, encodeAwarenessEntries, type AwarenessEntry, type NodeId } from '@murmur/shared'
import { ClusterPresence, type PresenceDoc, type PresenceMessage } from '../../../server/dist/cluster/presence.js'
import { decodePeerMessage, encodePeerMessage, type DocRef } from '../../../server/dist/cluster/peer-protocol.js'
import { MemberState, type MemberInfo } from '../../../server/dist/cluster/membership-api.js'
import { SimNetwork, mulberry32 } from './network.js'
import type { Simulation } from './simulation.js'

/**
 * A simulated presence layer on top of the membership simulation: every node runs the real
 * `ClusterPresence` for one doc that it has clients on, over a second simulated network (same clock,
 * same faults), in the real peer-protocol encoding. As in `Cluster.onMember`, a member seen alive gets
 * a watch (`linkUp`) and one seen dead or left loses its entries (`peerDead`); a crash is silent (no
 * link closes), so only membership can take a crashed node's presence away.
 */

export const PRESENCE_DOC = { engine: 'yjs', docId: 'room' } as DocRef

/** One node's doc: its table (what a joining client gets) and what its connected clients were told. */
class SimPresenceDoc implements PresenceDoc {
  readonly awareness = new AwarenessTable()
  /** The view of a client connected since the start: every update it was told, applied in order. */
  readonly clientView = new Map<number, string>()
  deliverAwareness(update: Uint8Array): void {
    for (const e of decodeAwarenessEntries(update)) {
      if (e.state === 'null') this.clientView.delete(e.clientId)
      else this.clientView.set(e.clientId, e.state)
    }
  }
  deliverEphemeral(): void {}
  speaksAs(): boolean {
    return false
  }
  table(): Map<number, string> {
    const all = this.awareness.encodeAll()
    return new Map(all === null ? [] : decodeAwarenessEntries(all).map((e) => [e.clientId, e.state]))
  }
}

/** One run of a node: its doc, its own client sockets and the entries each announced. */
class PresenceRun {
  readonly doc = new SimPresenceDoc()
  readonly presence: ClusterPresence
  /** Peers held alive: the stand-in for connected links. */
  readonly alive = new Set<NodeId>()
  /** This run's own entries, by client id (what every live node must end up showing). */
  readonly own = new Map<number, { clock: number; state: string; socket: object; quota: PresenceQuota }>()

  constructor(
    readonly id: NodeId,
    readonly generation: number,
    send: (to: NodeId, msg: PresenceMessage) => void,
  ) {
    this.presence = new ClusterPresence({
      doc: () => this.doc,
      // A reply goes back on the link the request came in on, whatever membership holds of its sender.
      send: (to, msg) => {
        send(to, msg)
        return true
      },
      connected: () => [...this.alive],
      policy: UNLIMITED_PRESENCE,
      refused: () => undefined,
    })
    this.presence.serve(PRESENCE_DOC, true)
  }

  onMember(m: MemberInfo): void {
    if (m.id === this.id) return
    if (m.state === MemberState.dead || m.state === MemberState.left) {
      this.alive.delete(m.id)
      this.presence.peerDead(m.id)
    } else if (m.state === MemberState.alive) {
      this.alive.add(m.id)
      this.presence.linkUp(m.id)
    }
  }

  /** A local client socket sets (or changes) its state, as `LiveDoc.relayAwareness` handles it. */
  announce(clientId: number, state: string): void {
    const cur = this.own.get(clientId)
    const socket = cur?.socket ?? {}
    const quota = cur?.quota ?? new PresenceQuota(UNLIMITED_PRESENCE)
    const entry: AwarenessEntry = { clientId, clock: (cur?.clock ?? 0) + 1, state }
    const accepted = this.doc.awareness.apply(encodeAwarenessEntries([entry]), socket, quota)
    if (accepted === null) return
    this.own.set(clientId, { clock: entry.clock, state, socket, quota })
    this.doc.deliverAwareness(accepted)
    this.presence.announced(PRESENCE_DOC, accepted, socket)
  }
}

interface Envelope {
  readonly gen: number
  readonly frame: string
}

export class PresenceCluster {
  readonly network: SimNetwork
  private readonly runs = new Map<NodeId, PresenceRun>()
  private readonly generations = new Map<NodeId, number>()

  constructor(readonly sim: Simulation) {
    this.network = new SimNetwork(sim.queue, mulberry32(Math.floor(sim.rng() * 2 ** 32)), (from, to, json) => this.deliver(from as NodeId, to as NodeId, json))
  }

  /** Start (or restart) a node's membership and presence; it joins through `seed`. */
  start(id: NodeId, seed?: NodeId): PresenceRun {
    const gen = (this.generations.get(id) ?? 0) + 1
    this.generations.set(id, gen)
    this.sim.start(id, seed)
    const run = new PresenceRun(id, gen, (to, msg) => {
      const frame = Buffer.from(encodePeerMessage(msg)).toString('base64')
      this.network.send(id, to, { gen: this.generations.get(to) ?? 0, frame } satisfies Envelope)
    })
    this.runs.set(id, run)
    const membership = this.sim.membership(id)
    membership.on('change', (m) => {
      if (this.runs.get(id) === run) run.onMember(m)
    })
    for (const m of membership.members()) run.onMember(m)
    return run
  }

  crash(id: NodeId): void {
    this.sim.crash(id)
    this.runs.delete(id)
  }

  run(id: NodeId): PresenceRun {
    const run = this.runs.get(id)
    if (run === undefined) throw new Error(`${id} is not running`)
    return run
  }

  running(): PresenceRun[] {
    return [...this.runs.values()]
  }

  /** What every node must show: the entries of every running node's own clients. */
  expected(): Map<number, string> {
    const out = new Map<number, string>()
    for (const run of this.runs.values()) for (const [clientId, e] of run.own) out.set(clientId, e.state)
    return out
  }

  /** Why presence has not converged yet (some node's table or clients differ from `expected`), or null. */
  divergence(): string | null {
    const want = this.expected()
    for (const run of this.runs.values()) {
      for (const [what, view] of [['table', run.doc.table()], ['clients', run.doc.clientView]] as const) {
        const diff = describeDiff(want, view)
        if (diff !== null) return `${run.id} ${what}: ${diff}`
      }
    }
    return null
  }

  /** Entries from `owner`'s clients that some running node still shows. */
  leftovers(ids: readonly number[]): string | null {
    for (const run of this.runs.values()) {
      const table = run.doc.table()
      const stale = ids.filter((id) => table.has(id) || run.doc.clientView.has(id))
      if (stale.length > 0) return `${run.id} still shows ${stale.join(', ')}`
    }
    return null
  }

  private deliver(from: NodeId, to: NodeId, json: string): void {
    const env = JSON.parse(json) as Envelope
    const run = this.runs.get(to)
    if (run === undefined || run.generation !== env.gen) return
    run.presence.receive(from, decodePeerMessage(new Uint8Array(Buffer.from(env.frame, 'base64'))) as PresenceMessage)
  }
}

function describeDiff(want: ReadonlyMap<number, string>, got: ReadonlyMap<number, string>): string | null {
  for (const [id, state] of want) if (got.get(id) !== state) return `client ${id} is ${got.get(id) ?? 'missing'}, not ${state}`
  for (const id of got.keys()) if (!want.has(id)) return `client ${id} should be gone`
  return null
}
