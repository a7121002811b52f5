import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { asNodeId, type NodeId } from '@murmur/shared'
import {
  DEFAULT_MEMBERSHIP_OPTIONS,
  Membership,
  detectionBoundMs,
  supersedes,
  suspicionTimeoutMs,
  suspicionTimeouts,
} from '../../server/dist/cluster/membership.js'
import { MemberState, type MemberInfo, type SwimMessage } from '../../server/dist/cluster/membership-api.js'
import { mulberry32 } from '../cluster/sim/network.js'

const O = DEFAULT_MEMBERSHIP_OPTIONS
const id = (s: string): NodeId => asNodeId(s)
const A = id('a')
const B = id('b')
const C = id('c')
const D = id('d')
const E = id('e')

type Update = { id: NodeId; url: string; state: MemberState; incarnation: number; from?: NodeId }
const u = (who: NodeId, state: MemberState, incarnation: number, from?: NodeId): Update => ({ id: who, url: `ws://${who}`, state, incarnation, ...(from ? { from } : {}) })
const gossip = (...updates: Update[]): SwimMessage => ({ kind: 'gossip', gossip: updates })

/** One Membership on a hand-driven clock, recording what it sends and every change it reports. */
function harness(self: NodeId = A, startAt = 0, options: Partial<typeof O> = {}) {
  const clock = { now: startAt }
  const sent: { to: NodeId; msg: SwimMessage }[] = []
  const changes: MemberInfo[] = []
  const m = new Membership({ ...O, ...options, self: { id: self, url: `ws://${self}` } }, { now: () => clock.now, random: mulberry32(7), send: (to, msg) => sent.push({ to, msg }) })
  m.on('change', (info) => changes.push(info))
  const at = (t: number) => {
    clock.now = t
    m.tick()
  }
  /** Everyone in `ids` becomes known and alive at incarnation 1, as after a push-pull. */
  const know = (...ids: NodeId[]) => m.receive(ids[0], { kind: 'push-pull', reply: true, members: ids.map((x) => u(x, MemberState.alive, 1)) })
  const stateOf = (x: NodeId) => m.member(x)?.state
  return { m, clock, sent, changes, at, know, stateOf }
}

const gossipOf = (msg: SwimMessage): Update[] => (Array.isArray(msg.gossip) ? (msg.gossip as Update[]) : [])

describe('state precedence', () => {
  it('follows SWIM: higher incarnation wins; at equal ones dead > suspect > alive; left is final', () => {
    const { alive, suspect, dead, left } = MemberState
    const s = (state: MemberState, incarnation: number) => ({ state, incarnation })
    expect(supersedes(s(alive, 2), s(suspect, 1))).toBe(true)
    expect(supersedes(s(alive, 2), s(dead, 1))).toBe(true)
    expect(supersedes(s(alive, 1), s(suspect, 1))).toBe(false)
    expect(supersedes(s(alive, 1), s(dead, 1))).toBe(false)
    expect(supersedes(s(suspect, 1), s(alive, 1))).toBe(true)
    expect(supersedes(s(suspect, 1), s(alive, 2))).toBe(false)
    expect(supersedes(s(dead, 1), s(suspect, 1))).toBe(true)
    expect(supersedes(s(dead, 1), s(alive, 1))).toBe(true)
    expect(supersedes(s(suspect, 1), s(dead, 1))).toBe(false)
    // A member that refuted and was suspected again outranks its older death.
    expect(supersedes(s(suspect, 2), s(dead, 1))).toBe(true)
    expect(supersedes(s(left, 0), s(alive, 99))).toBe(true)
    expect(supersedes(s(alive, 1000), s(left, 0))).toBe(false)
    expect(supersedes(s(dead, 1000), s(left, 0))).toBe(false)
    expect(supersedes(s(alive, 1), s(alive, 1))).toBe(false)
  })

  it('is a strict order (irreflexive, asymmetric, transitive), so views can only move one way', () => {
    const st = fc.record({ state: fc.constantFrom(...Object.values(MemberState)), incarnation: fc.nat(5) })
    fc.assert(
      fc.property(st, st, st, (x, y, z) => {
        expect(supersedes(x, x)).toBe(false)
        if (supersedes(x, y)) expect(supersedes(y, x)).toBe(false)
        if (supersedes(x, y) && supersedes(y, z)) expect(supersedes(x, z)).toBe(true)
      }),
    )
  })

  it('views that heard the same updates in any order agree', () => {
    const upd = fc.record({ state: fc.constantFrom(...Object.values(MemberState)), incarnation: fc.nat(6), who: fc.constantFrom(B, C) })
    fc.assert(
      fc.property(fc.array(upd, { minLength: 1, maxLength: 12 }), fc.nat(), (updates, seed) => {
        const msgs = updates.map((x) => gossip(u(x.who, x.state, x.incarnation, D)))
        const r = mulberry32(seed)
        const shuffled = [...msgs]
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(r() * (i + 1))
          ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
        }
        const h1 = harness()
        const h2 = harness()
        for (const msg of msgs) h1.m.receive(D, msg)
        for (const msg of shuffled) h2.m.receive(D, msg)
        for (const who of [B, C]) {
          const a = h1.m.member(who)
          const b = h2.m.member(who)
          expect(a?.state).toBe(b?.state)
          if (a?.state !== MemberState.left) expect(a?.incarnation).toBe(b?.incarnation)
        }
      }),
    )
  })

  it('applies the rules to gossip: suspect over alive, alive with a higher incarnation over dead, nothing over left', () => {
    const h = harness()
    h.know(B)
    h.m.receive(C, gossip(u(B, MemberState.suspect, 1, C)))
    expect(h.stateOf(B)).toBe(MemberState.suspect)
    h.m.receive(C, gossip(u(B, MemberState.alive, 1)))
    expect(h.stateOf(B)).toBe(MemberState.suspect)
    h.m.receive(C, gossip(u(B, MemberState.dead, 1, C)))
    expect(h.stateOf(B)).toBe(MemberState.dead)
    h.m.receive(C, gossip(u(B, MemberState.alive, 2)))
    expect(h.m.member(B)).toMatchObject({ state: MemberState.alive, incarnation: 2 })
    h.m.receive(C, gossip(u(B, MemberState.left, 0)))
    expect(h.m.member(B)).toMatchObject({ state: MemberState.left, incarnation: 2 })
    const before = h.changes.length
    h.m.receive(C, gossip(u(B, MemberState.alive, 50)))
    expect(h.stateOf(B)).toBe(MemberState.left)
    expect(h.changes.length).toBe(before)
  })

  it('a full-state exchange saying dead only makes a known member suspect; an unknown one is listed dead', () => {
    const h = harness()
    h.know(B)
    h.m.receive(C, { kind: 'push-pull', reply: true, members: [u(B, MemberState.dead, 1), u(E, MemberState.dead, 3)] })
    expect(h.stateOf(B)).toBe(MemberState.suspect)
    expect(h.m.member(E)).toMatchObject({ state: MemberState.dead, incarnation: 3 })
  })
})

describe('refutation', () => {
  it('a suspected member refutes with a higher incarnation and counts it against its own health', () => {
    const h = harness(A, 100)
    h.know(B)
    const inc = h.m.member(A)?.incarnation ?? -1
    expect(inc).toBe(100)
    h.m.receive(B, { kind: 'ping', seq: 9, target: A, claim: u(A, MemberState.suspect, inc, B), gossip: [] })
    expect(h.m.member(A)).toMatchObject({ state: MemberState.alive, incarnation: inc + 1 })
    expect(h.m.counters.refutations).toBe(1)
    expect(h.m.localHealth).toBe(1)
    const ack = h.sent.at(-1)
    expect(ack?.msg).toMatchObject({ kind: 'ack', seq: 9 })
    expect(gossipOf(ack?.msg ?? { kind: 'x' })).toContainEqual(u(A, MemberState.alive, inc + 1))
  })

  it('a restarted node hearing of its earlier, higher incarnation goes above it', () => {
    const h = harness(A, 10)
    h.m.receive(B, gossip(u(A, MemberState.dead, 500, B)))
    expect(h.m.member(A)).toMatchObject({ state: MemberState.alive, incarnation: 501 })
  })

  it('stale suspicion (lower incarnation) is not refuted again, and self is never seen dead', () => {
    const h = harness(A, 10)
    h.m.receive(B, gossip(u(A, MemberState.dead, 3, B)))
    expect(h.m.member(A)).toMatchObject({ state: MemberState.alive, incarnation: 10 })
    expect(h.m.counters.refutations).toBe(0)
  })
})

describe('suspicion timeout (Lifeguard)', () => {
  it('min = suspicionMult × log10(max(n, 10)) × probe interval, max = suspicionMaxMult × min', () => {
    expect(suspicionTimeouts(O, 3)).toEqual({ minMs: 4000, maxMs: 24000 })
    expect(suspicionTimeouts(O, 10)).toEqual({ minMs: 4000, maxMs: 24000 })
    expect(suspicionTimeouts(O, 100)).toEqual({ minMs: 8000, maxMs: 48000 })
    expect(suspicionTimeouts(O, 50).minMs).toBeCloseTo(4000 * Math.log10(50), 6)
  })

  it('falls from max to min logarithmically as the expected confirmations arrive', () => {
    expect(suspicionTimeoutMs(4000, 24000, 3, 0)).toBe(24000)
    expect(suspicionTimeoutMs(4000, 24000, 3, 1)).toBe(14000)
    expect(suspicionTimeoutMs(4000, 24000, 3, 2)).toBe(Math.floor(24000 - 20000 * (Math.log(3) / Math.log(4))))
    expect(suspicionTimeoutMs(4000, 24000, 3, 3)).toBe(4000)
    expect(suspicionTimeoutMs(4000, 24000, 3, 9)).toBe(4000)
    // With nobody to confirm (two members), there is nothing to wait for.
    expect(suspicionTimeoutMs(4000, 24000, 0, 0)).toBe(4000)
  })

  it('a suspect is declared dead at max, sooner with independent confirmations; repeats do not count', () => {
    const h = harness()
    h.know(B, C, D, E)
    h.m.receive(C, gossip(u(B, MemberState.suspect, 1, C)))
    h.at(23_999)
    expect(h.stateOf(B)).toBe(MemberState.suspect)
    h.at(24_000)
    expect(h.stateOf(B)).toBe(MemberState.dead)
    expect(h.m.counters.deaths).toBe(1)

    const g = harness()
    g.know(B, C, D, E)
    g.m.receive(C, gossip(u(B, MemberState.suspect, 1, C)))
    g.m.receive(E, gossip(u(B, MemberState.suspect, 1, C)))
    g.m.receive(D, gossip(u(B, MemberState.suspect, 1, D)))
    // n = 5, so k = min(3, n − 2) = 3; one confirmation: 24000 − 20000 × log 2 / log 4 = 14000.
    g.at(13_999)
    expect(g.stateOf(B)).toBe(MemberState.suspect)
    g.at(14_000)
    expect(g.stateOf(B)).toBe(MemberState.dead)
  })
})

describe('probing', () => {
  /** Run the clock in 10 ms steps until `done`. */
  function until(h: ReturnType<typeof harness>, done: () => boolean, limit = 60_000): void {
    while (!done()) {
      if (h.clock.now > limit) throw new Error('timed out')
      h.at(h.clock.now + 10)
    }
  }

  it('ping, then ping-req through other members after the timeout, then suspicion; nacks keep local health', () => {
    const h = harness()
    h.know(B, C, D)
    until(h, () => h.sent.some((s) => s.msg.kind === 'ping'))
    const ping = h.sent.find((s) => s.msg.kind === 'ping')
    const target = ping?.to as NodeId
    const seq = ping?.msg.seq
    const pingedAt = h.clock.now
    until(h, () => h.sent.some((s) => s.msg.kind === 'ping-req'))
    expect(h.clock.now - pingedAt).toBeGreaterThanOrEqual(O.probeTimeoutMs)
    const relays = h.sent.filter((s) => s.msg.kind === 'ping-req')
    expect(relays.map((r) => r.to).sort()).toEqual([B, C, D].filter((x) => x !== target).sort())
    for (const r of relays) h.m.receive(r.to, { kind: 'nack', seq, gossip: [] })
    until(h, () => h.stateOf(target) === MemberState.suspect)
    expect(h.clock.now - pingedAt).toBeLessThanOrEqual(O.probeIntervalMs + 10)
    expect(h.m.localHealth).toBe(0)
    expect(h.m.counters.suspicions).toBe(1)
  })

  it('missing nacks raise local health, which stretches the probe period; timely acks bring it down', () => {
    const h = harness()
    h.know(B, C, D)
    const pings = () => h.sent.filter((s) => s.msg.kind === 'ping')
    until(h, () => pings().length === 1)
    until(h, () => h.m.localHealth > 0)
    expect(h.m.localHealth).toBe(2)
    // The next probe starts as the failed one ends, with a period three intervals long.
    expect(pings().length).toBe(2)
    const p = pings()[1]
    const started = h.clock.now
    h.m.receive(p.to, { kind: 'ack', seq: p.msg.seq, gossip: [] })
    expect(h.m.localHealth).toBe(1)
    expect(h.m.member(p.to)?.rttMs).not.toBeNull()
    until(h, () => pings().length === 3)
    expect(h.clock.now - started).toBeGreaterThan(3 * O.probeIntervalMs - 10)
    expect(h.clock.now - started).toBeLessThan(3 * O.probeIntervalMs + 10)
  })

  it('tick() is idempotent: calling it again at the same instant sends nothing more', () => {
    const h = harness()
    h.know(B, C, D)
    for (let t = 0; t < 5000; t += 10) {
      h.at(t)
      const before = h.sent.length
      h.at(t)
      expect(h.sent.length).toBe(before)
    }
    expect(h.sent.length).toBeGreaterThan(0)
  })

  it('after a stall of the process, the relays still get their window before anyone is suspected', () => {
    const h = harness()
    h.know(B, C, D)
    until(h, () => h.sent.some((s) => s.msg.kind === 'ping'))
    const ping = h.sent.find((s) => s.msg.kind === 'ping')
    h.at(h.clock.now + 5000)
    expect(h.sent.some((s) => s.msg.kind === 'ping-req')).toBe(true)
    expect(h.stateOf(ping?.to as NodeId)).toBe(MemberState.alive)
    h.m.receive(ping?.to as NodeId, { kind: 'ack', seq: ping?.msg.seq, gossip: [] })
    h.at(h.clock.now + O.probeIntervalMs)
    expect(h.stateOf(ping?.to as NodeId)).toBe(MemberState.alive)
    expect(h.m.counters.suspicions).toBe(0)
  })

  it('a ping to a suspect carries the suspicion, so it can refute at once', () => {
    const h = harness()
    h.know(B)
    h.m.receive(C, gossip(u(B, MemberState.suspect, 1, C)))
    until(h, () => h.sent.some((s) => s.msg.kind === 'ping' && s.to === B))
    const ping = h.sent.find((s) => s.msg.kind === 'ping' && s.to === B)
    expect(ping?.msg.claim).toMatchObject({ id: B, state: MemberState.suspect, incarnation: 1 })
  })

  it('relays a ping-req: pings the target, forwards its ack, nacks if it is slow', () => {
    const h = harness()
    h.know(B, C)
    h.m.receive(B, { kind: 'ping-req', seq: 42, target: C, gossip: [] })
    const ping = h.sent.find((s) => s.to === C && s.msg.kind === 'ping')
    expect(ping).toBeDefined()
    h.at(0.5 * O.probeTimeoutMs)
    expect(h.sent.find((s) => s.to === B && s.msg.kind === 'nack')?.msg.seq).toBe(42)
    h.m.receive(C, { kind: 'ack', seq: ping?.msg.seq, gossip: [] })
    expect(h.sent.find((s) => s.to === B && s.msg.kind === 'ack')?.msg.seq).toBe(42)
  })
})

describe('joining, leaving and bad input', () => {
  it('a seed gets a push-pull at once and again until it answers; its answer lists everyone', () => {
    // No periodic push-pull in the window, so every push-pull seen is a seed's.
    const h = harness(A, 0, { pushPullIntervalMs: 1e9 })
    h.m.addSeed(B, 'ws://b')
    expect(h.sent[0]).toMatchObject({ to: B, msg: { kind: 'push-pull', reply: false } })
    h.at(O.probeIntervalMs)
    expect(h.sent.filter((s) => s.msg.kind === 'push-pull' && s.to === B).length).toBe(2)
    h.m.receive(B, { kind: 'push-pull', reply: true, members: [u(B, MemberState.alive, 5), u(C, MemberState.alive, 7)] })
    expect(h.m.members().map((m) => m.id).sort()).toEqual([A, B, C])
    expect(h.m.member(C)?.url).toBe('ws://c')
    const count = h.sent.filter((s) => s.msg.kind === 'push-pull' && s.to === B).length
    h.at(10 * O.probeIntervalMs)
    expect(h.sent.filter((s) => s.msg.kind === 'push-pull' && s.to === B && s.msg.reply === false).length).toBe(count)
  })

  it('leave() marks self left and tells every member at once; decommission() does the same for another', () => {
    const h = harness()
    h.know(B, C)
    expect(h.m.decommission(B)).toBe(true)
    expect(h.stateOf(B)).toBe(MemberState.left)
    expect(h.m.decommission(id('nobody'))).toBe(false)
    h.sent.length = 0
    h.m.leave()
    expect(h.stateOf(A)).toBe(MemberState.left)
    // B is out already; C hears it directly.
    expect(h.sent.map((s) => [s.to, s.msg.kind])).toEqual([[C, 'gossip']])
    h.sent.length = 0
    h.at(60_000)
    expect(h.sent).toEqual([])
  })

  it('ignores malformed messages without throwing or changing anything', () => {
    const h = harness()
    h.know(B)
    const junk: unknown[] = [
      { kind: 'ping' },
      { kind: 'nope', gossip: [] },
      { kind: 'push-pull', reply: false, members: [{ id: 1 }] },
      { kind: 'gossip', gossip: [{ id: 'c', url: 'ws://c', state: 'zombie', incarnation: 1 }] },
      { kind: 'gossip', gossip: [{ id: 'c', url: 'ws://c', state: 'alive', incarnation: -1 }] },
      { kind: 'ack', seq: 'x', gossip: [] },
    ]
    for (const msg of junk) expect(() => h.m.receive(B, msg as SwimMessage)).not.toThrow()
    expect(h.m.members().map((m) => m.id).sort()).toEqual([A, B])
  })

  it('change listeners can unsubscribe', () => {
    const h = harness()
    const seen: NodeId[] = []
    const off = h.m.on('change', (m) => seen.push(m.id))
    h.know(B)
    off()
    h.m.receive(B, gossip(u(C, MemberState.alive, 1)))
    expect(seen).toEqual([B])
  })
})

describe('detection bound', () => {
  it('is (2(n − 1) − 1) probe periods + probe timeout + indirect phase + the maximum suspicion timeout', () => {
    expect(detectionBoundMs(O, 3)).toBe(3 * 1000 + 500 + 500 + 24_000)
    expect(detectionBoundMs(O, 5)).toBe(7 * 1000 + 1000 + 24_000)
    expect(detectionBoundMs(O, 50)).toBe(Math.ceil(97 * 1000 + 1000 + 24_000 * Math.log10(50)))
    expect(detectionBoundMs(O, 3, 50)).toBe(28_100)
  })
})
