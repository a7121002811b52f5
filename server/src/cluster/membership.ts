import type { NodeId } from '@murmur/shared'
import { MemberState, type MemberInfo, type MembershipEnv, type MembershipEvents, type MembershipOptions, type SwimMessage } from './membership-api.js'
import { GossipQueue, parseSwimMessage, toWire, type MemberUpdate, type SwimMsg } from './swim-messages.js'
import { MAX_LOCAL_HEALTH, supersedes } from './membership-rules.js'
import { ProbeOrder, Relays, shuffle } from './probing.js'
import { Suspicions } from './suspicion.js'

export {
  DEFAULT_MEMBERSHIP_OPTIONS,
  MAX_LOCAL_HEALTH,
  detectionBoundMs,
  supersedes,
  suspicionTimeoutMs,
  suspicionTimeouts,
} from './membership-rules.js'

/**
 * SWIM membership with Lifeguard, as a pure state machine: time comes from `env.now()`, randomness from
 * `env.random()`, and messages leave through `env.send()`. `tick()` fires whatever timer is due, so the
 * same code runs on a wall clock in the node and on a virtual clock in the simulation.
 * The rules (states, precedence, timeouts, detection bound) are written down in docs/cluster.md.
 */

/**
 * A relay nacks if the target has not acked within this fraction of the probe timeout (Lifeguard).
 * memberlist uses 0.8, but the nack must reach the requester within the indirect phase (the rest of the
 * period, as long as the timeout with the defaults), and a driver that ticks every few tens of ms delays
 * both the ping-req and the nack by up to a tick each. A nack that misses the window wrongly raises the
 * requester's local health; one sent early costs nothing, since a later ack is still forwarded.
 */
const NACK_FRACTION = 0.5

interface Probe {
  readonly target: NodeId
  readonly incarnation: number
  readonly seq: number
  readonly startedAt: number
  readonly timeoutAt: number
  deadline: number
  relays: NodeId[] | null
  nacks: number
}

export type MembershipCounters = { probes: number; suspicions: number; refutations: number; deaths: number }

export class Membership {
  /** probes started, suspicions started, refutations of claims about self, members seen go alive/suspect → dead. */
  readonly counters: MembershipCounters = { probes: 0, suspicions: 0, refutations: 0, deaths: 0 }
  private readonly self: NodeId
  private readonly view = new Map<NodeId, MemberInfo>()
  private readonly gossip = new GossipQueue()
  private readonly suspicions: Suspicions
  private readonly relays = new Relays()
  private readonly seeds = new Map<NodeId, { retryAt: number; backoffMs: number }>()
  private readonly listeners = new Set<MembershipEvents['change']>()
  private pending: MemberInfo[] = []
  private readonly order: ProbeOrder
  private probe: Probe | null = null
  private seq = 0
  private health = 0
  private nextProbeAt: number
  private nextPushPullAt: number

  constructor(
    private readonly o: MembershipOptions,
    private readonly env: MembershipEnv,
  ) {
    if (!(o.probeTimeoutMs > 0 && o.probeTimeoutMs < o.probeIntervalMs)) throw new RangeError('need 0 < probeTimeoutMs < probeIntervalMs')
    if (o.indirectProbes < 0 || o.suspicionMult <= 0 || o.suspicionMaxMult < 1 || o.gossipPerMessage < 1 || o.retransmitMult < 1) {
      throw new RangeError('invalid membership options')
    }
    this.self = o.self.id
    this.suspicions = new Suspicions(o)
    this.order = new ProbeOrder(() => env.random())
    const now = env.now()
    // Start above any incarnation a previous run of this node can have reached (it bumps by one per
    // refutation); if the clock went backwards, hearing the old incarnation makes us refute above it.
    const me: MemberInfo = { id: this.self, url: o.self.url, state: MemberState.alive, incarnation: Math.max(0, Math.floor(now)), since: now, rttMs: null }
    this.view.set(this.self, me)
    this.gossip.enqueue(this.update(me))
    this.nextProbeAt = now + env.random() * o.probeIntervalMs
    this.nextPushPullAt = now + env.random() * o.pushPullIntervalMs
  }

  /** Lifeguard's local health multiplier (0 = healthy); probe interval and timeout are scaled by it + 1. */
  get localHealth(): number {
    return this.health
  }

  on(_event: 'change', listener: MembershipEvents['change']): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  members(): MemberInfo[] {
    return [...this.view.values()]
  }

  member(id: NodeId): MemberInfo | undefined {
    return this.view.get(id)
  }

  /** A node we just connected to: exchange full state with it now, and retry until it answers. */
  addSeed(id: NodeId, _url: string): void {
    if (id === this.self) return
    this.seeds.set(id, { retryAt: this.env.now() + this.o.probeIntervalMs, backoffMs: this.o.probeIntervalMs })
    this.sendPushPull(id, false)
  }

  /** Announce that this node leaves for good (`left` is final). */
  leave(): void {
    this.decommission(this.self)
  }

  /** Operator action: mark a member `left` and tell everyone at once. False if the member is unknown. */
  decommission(id: NodeId): boolean {
    const cur = this.view.get(id)
    if (cur === undefined) return false
    if (cur.state !== MemberState.left) {
      const u: MemberUpdate = { id, url: cur.url, state: MemberState.left, incarnation: cur.incarnation }
      this.set(u)
      this.gossip.enqueue(u)
      // The probe cycle would spread it too, but a leaving node may stop ticking right after this.
      for (const m of this.view.values()) if (m.id !== this.self && this.reachable(m)) this.send(m.id, { kind: 'gossip', gossip: [u] })
    }
    this.flush()
    return true
  }

  /** The earliest time `tick()` has something to do (the simulation schedules ticks with it). */
  nextTickAt(): number {
    let t = this.relays.nextDue()
    if (this.view.get(this.self)?.state === MemberState.left) return t
    t = Math.min(t, this.nextPushPullAt)
    // The next probe starts only once the current one is over.
    if (this.probe === null) t = Math.min(t, this.nextProbeAt)
    else t = Math.min(t, this.probe.relays === null ? this.probe.timeoutAt : this.probe.deadline)
    t = Math.min(t, this.suspicions.nextExpiry())
    for (const s of this.seeds.values()) t = Math.min(t, s.retryAt)
    return t
  }

  tick(): void {
    const now = this.env.now()
    for (const r of this.relays.nacksDue(now)) this.send(r.requester, { kind: 'nack', seq: r.requesterSeq, gossip: this.piggyback() })
    if (this.view.get(this.self)?.state === MemberState.left) return this.flush()
    if (this.probe !== null && this.probe.relays === null && now >= this.probe.timeoutAt) this.askRelays(this.probe, now)
    if (this.probe !== null && now >= this.probe.deadline) this.probeFailed(this.probe)
    // After the probe: a failed probe may have just confirmed a suspicion and shortened its timeout.
    for (const { id, incarnation } of this.suspicions.expired(now)) {
      const cur = this.view.get(id)
      if (cur?.state !== MemberState.suspect || cur.incarnation !== incarnation) continue
      const dead: MemberUpdate = { id, url: cur.url, state: MemberState.dead, incarnation: cur.incarnation, from: this.self }
      this.set(dead)
      this.gossip.enqueue(dead)
    }
    if (this.probe === null && now >= this.nextProbeAt) {
      // Stay on the period grid, so late ticks do not add up round after round (the detection bound
      // counts periods); start a fresh grid only if keeping it would halve the indirect phase.
      const period = this.scaled(this.o.probeIntervalMs)
      const timeout = this.scaled(this.o.probeTimeoutMs)
      const onGrid = this.nextProbeAt + period
      this.nextProbeAt = onGrid - now >= timeout + (period - timeout) / 2 ? onGrid : now + period
      this.startProbe(now)
      this.pingDeadMember()
    }
    for (const [id, s] of this.seeds) {
      if (now < s.retryAt) continue
      s.backoffMs = Math.min(s.backoffMs * 2, this.o.pushPullIntervalMs)
      s.retryAt = now + s.backoffMs
      this.sendPushPull(id, false)
    }
    if (now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + this.o.pushPullIntervalMs
      const peer = this.pick([...this.view.values()].filter((m) => m.id !== this.self && this.reachable(m)), 1)[0]
      if (peer !== undefined) this.sendPushPull(peer.id, false)
    }
    this.flush()
  }

  receive(from: NodeId, raw: SwimMessage): void {
    const msg = parseSwimMessage(raw)
    if (msg === null) return
    try {
      this.handle(from, msg)
    } finally {
      this.flush()
    }
  }

  private handle(from: NodeId, msg: SwimMsg): void {
    if (msg.kind === 'push-pull') {
      for (const u of msg.members) this.merge(u, from, true)
      this.seeds.delete(from)
      if (!msg.reply) this.sendPushPull(from, true)
      return
    }
    for (const u of msg.gossip) this.merge(u, from, false)
    const now = this.env.now()
    switch (msg.kind) {
      case 'ping':
        // A node restarted under another id at the same address must not answer for the old one.
        if (msg.target !== this.self) return
        if (msg.claim?.id === this.self) this.aboutSelf(msg.claim)
        this.send(from, { kind: 'ack', seq: msg.seq, gossip: this.piggyback() })
        return
      case 'ping-req': {
        if (msg.target === this.self) return
        const seq = ++this.seq
        const nackAt = now + NACK_FRACTION * this.o.probeTimeoutMs
        this.relays.add(seq, { requester: from, requesterSeq: msg.seq, target: msg.target, nackAt, expiresAt: now + this.o.probeIntervalMs })
        const ping = { kind: 'ping', seq, target: msg.target, gossip: this.piggyback() } as const
        this.send(msg.target, msg.claim === undefined ? ping : { ...ping, claim: msg.claim })
        return
      }
      case 'ack':
        return this.onAck(from, msg.seq, now)
      case 'nack':
        if (this.probe?.seq === msg.seq && this.probe.relays?.includes(from)) this.probe.nacks++
        return
      case 'gossip':
        return
    }
  }

  private onAck(from: NodeId, seq: number, now: number): void {
    const relay = this.relays.takeAck(seq, from)
    if (relay !== undefined) {
      this.send(relay.requester, { kind: 'ack', seq: relay.requesterSeq, gossip: this.piggyback() })
      return
    }
    const p = this.probe
    if (p === null || p.seq !== seq || (from !== p.target && !p.relays?.includes(from))) return
    this.probe = null
    if (from !== p.target) return
    const cur = this.view.get(p.target)
    if (cur !== undefined) {
      const rtt = now - p.startedAt
      this.view.set(p.target, { ...cur, rttMs: cur.rttMs === null ? rtt : 0.875 * cur.rttMs + 0.125 * rtt })
    }
    // Lifeguard: only a timely direct ack is evidence that we ourselves are healthy.
    if (now <= p.timeoutAt) this.adjustHealth(-1)
  }

  private startProbe(now: number): void {
    const target = this.order.next(
      (id) => id !== this.self && this.reachable(this.view.get(id)),
      () => [...this.view.values()].filter((m) => m.id !== this.self && this.reachable(m)).map((m) => m.id),
    )
    if (target === undefined) return
    const cur = this.view.get(target)
    if (cur === undefined) return
    const seq = ++this.seq
    this.counters.probes++
    this.probe = {
      target,
      incarnation: cur.incarnation,
      seq,
      startedAt: now,
      timeoutAt: now + this.scaled(this.o.probeTimeoutMs),
      deadline: this.nextProbeAt,
      relays: null,
      nacks: 0,
    }
    this.send(target, { kind: 'ping', seq, target, ...this.claimAbout(cur), gossip: this.piggyback() })
  }

  /** Lifeguard's buddy system: tell a suspect what we believe, so it can refute at once. */
  private claimAbout(m: MemberInfo): { claim?: MemberUpdate } {
    return m.state === MemberState.alive ? {} : { claim: { ...this.update(m), from: this.self } }
  }

  private askRelays(p: Probe, now: number): void {
    // After a stall of this process (GC, busy event loop) the relays still get their window: the acks we
    // have not read yet are no evidence against the target. Ordinary tick lateness leaves the grid alone.
    const indirect = this.scaled(this.o.probeIntervalMs) - this.scaled(this.o.probeTimeoutMs)
    if (p.deadline - now < indirect / 2) p.deadline = now + indirect
    const candidates = [...this.view.values()].filter((m) => m.id !== this.self && m.id !== p.target && m.state === MemberState.alive)
    p.relays = this.pick(candidates, this.o.indirectProbes).map((m) => m.id)
    const cur = this.view.get(p.target)
    const claim = cur === undefined ? {} : this.claimAbout(cur)
    for (const relay of p.relays) this.send(relay, { kind: 'ping-req', seq: p.seq, target: p.target, ...claim, gossip: this.piggyback() })
  }

  private probeFailed(p: Probe): void {
    this.probe = null
    // Lifeguard: relays that did not even nack suggest the fault is on our side; with none to ask, any failure counts.
    const expected = p.relays?.length ?? 0
    this.adjustHealth(expected > 0 ? expected - p.nacks : 1)
    const cur = this.view.get(p.target)
    if (cur === undefined || cur.incarnation !== p.incarnation || !this.reachable(cur)) return
    const suspect: MemberUpdate = { ...this.update(cur), state: MemberState.suspect, from: this.self }
    if (cur.state === MemberState.alive) {
      this.set(suspect)
      this.gossip.enqueue(suspect)
    } else this.confirm(p.target, this.self)
  }

  /**
   * Dead members are not probed, but one of them gets a ping each period carrying its death, so a member
   * that was only cut off (or restarted) refutes and comes back without waiting for a push-pull.
   */
  private pingDeadMember(): void {
    const dead = this.pick([...this.view.values()].filter((m) => m.state === MemberState.dead), 1)[0]
    if (dead !== undefined) this.send(dead.id, { kind: 'ping', seq: ++this.seq, target: dead.id, ...this.claimAbout(dead), gossip: this.piggyback() })
  }

  /** Apply one gossiped or pushed update about any member, following `supersedes`. */
  private merge(u: MemberUpdate, sender: NodeId, pushPull: boolean): void {
    if (u.id === this.self) return this.aboutSelf(u)
    const cur = this.view.get(u.id)
    // A full-state exchange saying "dead" only makes us suspect (memberlist does the same): the sender's
    // view may be stale, and a suspicion lets the member refute before we declare it.
    const next = pushPull && cur !== undefined && u.state === MemberState.dead ? { ...u, state: MemberState.suspect, from: sender } : u
    if (cur === undefined || supersedes(next, cur)) {
      const withFrom = next.state === MemberState.suspect && next.from === undefined ? { ...next, from: sender } : next
      this.set(withFrom)
      this.gossip.enqueue(withFrom)
    } else if (!pushPull && next.state === MemberState.suspect && cur.state === MemberState.suspect && next.incarnation === cur.incarnation) {
      // Only gossip names who suspected; a full-state exchange just repeats what its sender heard, so it confirms nothing.
      this.confirm(u.id, next.from ?? sender)
    }
  }

  private aboutSelf(u: MemberUpdate): void {
    const me = this.view.get(this.self)
    if (me === undefined || me.state === MemberState.left) return
    if (u.state === MemberState.left) {
      this.set({ ...this.update(me), state: MemberState.left })
      return
    }
    if (u.incarnation < me.incarnation || (u.state === MemberState.alive && u.incarnation === me.incarnation)) {
      // Stale news about us: make sure our current state rides on the next messages.
      if (u.state !== MemberState.alive) this.gossip.enqueue(this.update(me))
      return
    }
    // Someone suspects us (or remembers an earlier run of this node): refute with a higher incarnation.
    this.counters.refutations++
    if (u.state !== MemberState.alive) this.adjustHealth(1)
    const alive: MemberUpdate = { id: this.self, url: me.url, state: MemberState.alive, incarnation: u.incarnation + 1 }
    this.set(alive)
    this.gossip.enqueue(alive)
  }

  private confirm(id: NodeId, from: NodeId): void {
    const cur = this.view.get(id)
    if (cur === undefined || !this.suspicions.confirm(id, from)) return
    // Pass the independent confirmation on: others count it too.
    this.gossip.enqueue({ ...this.update(cur), from })
  }

  /** Record a new state for a member, keeping timers, probe order and counters in step. */
  private set(u: MemberUpdate): void {
    const prev = this.view.get(u.id)
    const now = this.env.now()
    // `left` wins at any incarnation; keeping the highest one seen keeps incarnations monotonic.
    const incarnation = u.state === MemberState.left ? Math.max(u.incarnation, prev?.incarnation ?? 0) : u.incarnation
    const info: MemberInfo = { id: u.id, url: u.url || (prev?.url ?? ''), state: u.state, incarnation, since: now, rttMs: prev?.rttMs ?? null }
    this.view.set(u.id, info)
    if (u.state === MemberState.suspect) {
      const n = [...this.view.values()].filter((m) => this.reachable(m)).length
      this.suspicions.start(u.id, u.incarnation, u.from ?? this.self, now, n)
      this.counters.suspicions++
    } else this.suspicions.clear(u.id)
    if (u.state === MemberState.dead && prev !== undefined && this.reachable(prev)) this.counters.deaths++
    // A member that became probeable joins the current round at a random place, not at its end.
    if (u.id !== this.self && this.reachable(info) && (prev === undefined || !this.reachable(prev))) this.order.add(u.id)
    this.pending.push(info)
  }

  private adjustHealth(delta: number): void {
    this.health = Math.max(0, Math.min(MAX_LOCAL_HEALTH, this.health + delta))
  }

  private scaled(ms: number): number {
    return ms * (this.health + 1)
  }

  /** Alive or suspect: probed, and counted in n for the suspicion timeout. */
  private reachable(m: MemberInfo | undefined): boolean {
    return m?.state === MemberState.alive || m?.state === MemberState.suspect
  }

  private update(m: MemberInfo): MemberUpdate {
    return { id: m.id, url: m.url, state: m.state, incarnation: m.incarnation }
  }

  private piggyback(): MemberUpdate[] {
    const limit = this.o.retransmitMult * Math.ceil(Math.log2(this.view.size + 1))
    return this.gossip.take(this.o.gossipPerMessage, limit)
  }

  private sendPushPull(to: NodeId, reply: boolean): void {
    this.send(to, { kind: 'push-pull', reply, members: [...this.view.values()].map((m) => this.update(m)) })
  }

  /**
   * Whatever we send to a member we hold suspect or dead carries that belief, so it can refute at once:
   * after a partition heals, the first message across is enough to bring both sides back.
   */
  private send(to: NodeId, msg: SwimMsg): void {
    const m = this.view.get(to)
    if (m !== undefined && m.state !== MemberState.alive && msg.kind !== 'push-pull' && !('claim' in msg)) {
      const { claim } = this.claimAbout(m)
      if (claim !== undefined) msg = { ...msg, gossip: [claim, ...msg.gossip] }
    }
    this.env.send(to, toWire(msg))
  }

  private pick<T>(items: T[], k: number): T[] {
    return shuffle(items, () => this.env.random()).slice(0, k)
  }

  /** Listeners run after a whole message or tick has been applied, so they always see a consistent view. */
  private flush(): void {
    const events = this.pending
    this.pending = []
    for (const m of events) for (const l of this.listeners) l(m)
  }
}
