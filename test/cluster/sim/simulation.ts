import type { NodeId } from '@murmur/shared'
import { Membership, DEFAULT_MEMBERSHIP_OPTIONS } from '../../../server/dist/cluster/membership.js'
import { MemberState, type MemberInfo, type MembershipOptions, type SwimMessage } from '../../../server/dist/cluster/membership-api.js'
import { EventQueue, SimNetwork, mulberry32, type Faults, type Rng } from './network.js'

/**
 * N simulated nodes, each running a real `Membership` on the virtual clock, with crashes, restarts and
 * checks of the invariants that must hold at every instant (see `watch`).
 */

/** SIM_TRACE=1 prints every membership change of a replayed run. */
const TRACE = process.env.SIM_TRACE === '1'
/** The node's driver ticks every 10–50 ms; simulate the coarse end. */
export const DEFAULT_TICK_MS = 50

interface SimNode {
  readonly id: NodeId
  readonly url: string
  membership: Membership | null
  /** Bumped on every crash, so ticks and deliveries meant for an earlier run are dropped. */
  generation: number
  /** Incarnation the current run started with; a death at or above it is a death of this run. */
  startIncarnation: number
  tickAt: number
  /** Phase of this node's tick grid. */
  readonly tickPhase: number
}

export interface SimOptions {
  readonly seed: number
  readonly membership?: Partial<Omit<MembershipOptions, 'self'>>
  /** Whether marking a running node dead counts as a violation (off while partitions are allowed). */
  readonly forbidFalseDeaths: boolean
  /**
   * The real node calls `tick()` from an interval timer, so a timer fires up to one tick late. Each
   * simulated node ticks on its own grid of this period (random phase); 0 ticks exactly on time.
   */
  readonly tickEveryMs?: number
}

export class Simulation {
  readonly rng: Rng
  readonly queue = new EventQueue()
  readonly network: SimNetwork
  readonly options: Omit<MembershipOptions, 'self'>
  readonly violations: string[] = []
  /** When each observer first saw each member dead / alive again, per observer generation. */
  readonly deadAt = new Map<string, number>()
  private readonly nodes = new Map<NodeId, SimNode>()
  private forbidFalseDeaths: boolean
  private readonly tickEveryMs: number

  constructor(opts: SimOptions) {
    this.tickEveryMs = opts.tickEveryMs ?? DEFAULT_TICK_MS
    this.rng = mulberry32(opts.seed)
    this.options = { ...DEFAULT_MEMBERSHIP_OPTIONS, ...opts.membership }
    this.forbidFalseDeaths = opts.forbidFalseDeaths
    this.network = new SimNetwork(this.queue, mulberry32(Math.floor(this.rng() * 2 ** 32)), (from, to, json) => this.deliver(from, to, json))
  }

  get now(): number {
    return this.queue.now
  }

  set faults(f: Faults) {
    this.network.faults = f
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()]
  }

  /** Nodes currently running and still members (not left in their own view). */
  live(): NodeId[] {
    return this.ids().filter((id) => {
      const m = this.nodes.get(id)?.membership
      return m !== null && m !== undefined && m.member(id)?.state !== MemberState.left
    })
  }

  isRunning(id: NodeId): boolean {
    return (this.nodes.get(id)?.membership ?? null) !== null
  }

  membership(id: NodeId): Membership {
    const m = this.nodes.get(id)?.membership
    if (m === null || m === undefined) throw new Error(`${id} is not running`)
    return m
  }

  /** Start (or restart) a node; it joins through `seed` when given. */
  start(id: NodeId, seed?: NodeId): void {
    let node = this.nodes.get(id)
    if (node === undefined) {
      const tickPhase = this.rng() * this.tickEveryMs
      node = { id, url: `ws://${id}.sim:4000`, membership: null, generation: 0, startIncarnation: 0, tickAt: Infinity, tickPhase }
      this.nodes.set(id, node)
    }
    if (node.membership !== null) throw new Error(`${id} is already running`)
    const n = node
    const random = mulberry32(Math.floor(this.rng() * 2 ** 32))
    const m = new Membership(
      { ...this.options, self: { id, url: node.url } },
      {
        now: () => this.queue.now,
        random,
        send: (to: NodeId, msg: SwimMessage) => {
          if (n.membership === m) this.network.send(id, to, msg)
        },
      },
    )
    node.membership = m
    node.startIncarnation = m.member(id)?.incarnation ?? 0
    node.tickAt = Infinity
    this.watch(node, m)
    if (seed !== undefined) {
      const seedUrl = this.nodes.get(seed)?.url ?? ''
      m.addSeed(seed, seedUrl)
    }
    this.schedule(node)
  }

  /** The process dies: its state is gone, messages to it are lost until it restarts. */
  crash(id: NodeId): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.membership === null) throw new Error(`${id} is not running`)
    node.membership = null
    node.generation++
    node.tickAt = Infinity
  }

  /** Run `fn` against a node's membership, then reschedule its timers (anything may have changed). */
  act(id: NodeId, fn: (m: Membership) => void): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.membership === null) throw new Error(`${id} is not running`)
    fn(node.membership)
    this.schedule(node)
  }

  runFor(ms: number): void {
    this.queue.runUntil(this.queue.now + ms)
  }

  /** Advance in steps until `done()` holds; returns the time it took, or null if `maxMs` passed first. */
  runUntil(done: () => boolean, maxMs: number, stepMs = 100): number | null {
    const start = this.queue.now
    while (!done()) {
      if (this.queue.now - start >= maxMs) return null
      this.runFor(stepMs)
    }
    return this.queue.now - start
  }

  /** Every live node sees every id in `ids` in `state`. */
  allSee(ids: readonly NodeId[], state: MemberState, observers: readonly NodeId[] = this.live()): boolean {
    return observers.every((o) => ids.every((id) => this.membership(o).member(id)?.state === state))
  }

  /** Every live node holds the same view: same members, same states, same incarnations (but see below). */
  viewsAgree(): boolean {
    const [first, ...rest] = this.live().map((id) => describeView(this.membership(id).members()))
    return rest.every((v) => v === first)
  }

  /** For failure messages: the most common view, then how each live node differs from it. */
  dump(): string {
    const views = new Map(this.live().map((id) => [id, this.membership(id).members()] as const))
    const counts = new Map<string, number>()
    for (const v of views.values()) counts.set(describeView(v), (counts.get(describeView(v)) ?? 0) + 1)
    const common = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? ''
    const expected = new Set(common.split(' '))
    const lines = [`most views: ${common}`]
    for (const [id, v] of views) {
      const diff = describeView(v).split(' ').filter((e) => !expected.has(e))
      const health = this.membership(id).localHealth
      if (diff.length > 0 || health > 0) lines.push(`${id} (local health ${health}) differs: ${diff.join(' ') || '-'}`)
    }
    return lines.join('\n')
  }

  /** The highest local health multiplier any node has had since the last reset. */
  peakHealth = 0

  private schedule(node: SimNode): void {
    const m = node.membership
    if (m === null) return
    this.peakHealth = Math.max(this.peakHealth, m.localHealth)
    const due = Math.max(m.nextTickAt(), this.queue.now)
    const g = this.tickEveryMs
    let at = g > 0 && Number.isFinite(due) ? Math.ceil((due - node.tickPhase) / g) * g + node.tickPhase : due
    if (at < due) at += g // rounding must never tick before the timer is due
    if (at >= node.tickAt || !Number.isFinite(at)) return
    node.tickAt = at
    const generation = node.generation
    this.queue.schedule(at, () => {
      if (node.generation !== generation || node.tickAt !== at || node.membership !== m) return
      node.tickAt = Infinity
      m.tick()
      if (m.nextTickAt() <= this.queue.now && node.membership === m) {
        this.violations.push(`${node.id} tick at ${this.queue.now} left a timer due (busy loop)`)
        return
      }
      this.schedule(node)
    })
  }

  private deliver(from: string, to: string, json: string): void {
    const node = this.nodes.get(to as NodeId)
    if (node === undefined || node.membership === null) return
    node.membership.receive(from as NodeId, JSON.parse(json) as SwimMessage)
    this.schedule(node)
  }

  /** Invariants checked on every change event, so a violation is caught at the instant it happens. */
  private watch(node: SimNode, m: Membership): void {
    const lastIncarnation = new Map<NodeId, number>()
    const leftSeen = new Set<NodeId>()
    const generation = node.generation
    m.on('change', (info: MemberInfo) => {
      const at = this.queue.now
      const where = `${node.id}#${generation} at ${at}ms sees ${info.id} ${info.state}/${info.incarnation}`
      if (TRACE) console.log(where)
      const last = lastIncarnation.get(info.id)
      if (last !== undefined && info.incarnation < last) this.violations.push(`${where}: incarnation went down from ${last}`)
      lastIncarnation.set(info.id, info.incarnation)
      if (leftSeen.has(info.id)) this.violations.push(`${where}: changed after left`)
      if (info.state === MemberState.left) leftSeen.add(info.id)
      if (info.id === node.id && (info.state === MemberState.dead || info.state === MemberState.suspect)) {
        this.violations.push(`${where}: a node sees itself ${info.state}`)
      }
      if (info.state === MemberState.dead) {
        const key = `${node.id}#${generation}>${info.id}`
        if (!this.deadAt.has(key)) this.deadAt.set(key, at)
        const target = this.nodes.get(info.id)
        if (this.forbidFalseDeaths && target?.membership != null && info.incarnation >= target.startIncarnation) {
          this.violations.push(`${where}: false positive, ${info.id} is running`)
        }
      }
    })
  }

  /** When `observer` (current run) first saw `target` dead, if it has. */
  sawDeadAt(observer: NodeId, target: NodeId): number | undefined {
    const node = this.nodes.get(observer)
    return node === undefined ? undefined : this.deadAt.get(`${observer}#${node.generation}>${target}`)
  }

  allowFalseDeaths(allow: boolean): void {
    this.forbidFalseDeaths = !allow
  }
}

/**
 * A view as one comparable string. A left member's incarnation is left out: `left` wins at any
 * incarnation, so two views may rightly hold it with different ones.
 */
export function describeView(members: readonly MemberInfo[]): string {
  return [...members]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((m) => (m.state === MemberState.left ? `${m.id}:left` : `${m.id}:${m.state}/${m.incarnation}`))
    .join(' ')
}
