import { describe, expect, it } from 'vitest'
import { asNodeId, type NodeId } from '@murmur/shared'
import { detectionBoundMs } from '../../../server/dist/cluster/membership.js'
import { MemberState } from '../../../server/dist/cluster/membership-api.js'
import { between, intBetween, type Rng } from './network.js'
import { ReplicaCluster } from './replicas.js'
import { SimClients, type SimClient } from './clients.js'
import { LAN, LOSS_SLACK, QUIESCE_BOUND_MS, ScenarioFailure, rejoinBoundMs } from './scenarios.js'
import { DEFAULT_TICK_MS, Simulation } from './simulation.js'

/**
 * Deterministic simulation of client failover: SDK clients (see clients.ts: the SDK's own choice of node
 * and backoff, with an outbox) edit docs through the simulated replicas while the node one of them is on
 * is killed, sometimes for good, sometimes a second node after it. The client keeps editing offline,
 * moves to a live node and sends its outbox there. Within the bound after the last fault every edit must
 * be acknowledged to its client exactly once (a re-ack of a resend is not counted again), every client
 * must be connected with an empty outbox, every edit must be on every live replica of its doc, replicas
 * must hold nothing no client wrote, and they must agree. SIM_SEED=<n> replays one seed, SIM_SEEDS=<count>
 * runs more or fewer.
 */
const replay = process.env.SIM_SEED === undefined ? null : Number(process.env.SIM_SEED)
const COUNT = Number(process.env.SIM_SEEDS ?? 200)
const seeds = replay !== null ? [replay] : Array.from({ length: COUNT }, (_, i) => i + 1)

const ANTI_ENTROPY_MS = 2000
const DOCS = 6

interface Outcome {
  /** From the last fault until everything held. */
  readonly ms: number
  readonly edits: number
  readonly offlineEdits: number
  /** Acks for edits already acknowledged (not counted twice). */
  readonly reacks: number
  /** Edits sent to a node that already held them, acknowledged without changing the doc. */
  readonly alreadyHeld: number
  /** Welcomes after the first, over all clients. */
  readonly moves: number
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]

function fail(c: ReplicaCluster, why: string): never {
  const views = c.running().length > 0 ? c.sim.dump() : '(no node running)'
  throw new ScenarioFailure(`${why}\nat ${c.sim.now}ms; views:\n${views}`)
}

/** n nodes (3–7, every tenth seed 9–12) join through n0 on a LAN. */
function boot(seed: number): { c: ReplicaCluster; ids: NodeId[] } {
  const sim = new Simulation({ seed, forbidFalseDeaths: false })
  const c = new ReplicaCluster(sim, { replicationFactor: 3, antiEntropyMs: ANTI_ENTROPY_MS })
  const n = seed % 10 === 0 ? intBetween(sim.rng, 9, 12) : intBetween(sim.rng, 3, 7)
  const ids = Array.from({ length: n }, (_, i) => asNodeId(`n${i}`))
  c.faults = LAN
  c.start(ids[0])
  for (const id of ids.slice(1)) sim.queue.schedule(sim.now + between(sim.rng, 0, 2000), () => c.start(id, ids[0]))
  sim.runFor(2000)
  if (sim.runUntil(() => sim.allSee(ids, MemberState.alive) && sim.viewsAgree(), rejoinBoundMs(n)) === null) fail(c, `${n} nodes did not all see each other alive`)
  return { c, ids }
}

/** Why the clients' edits are not all where they must be yet, or null once they are. */
function clientDivergence(c: ReplicaCluster, clients: readonly SimClient[]): string | null {
  const written = new Map<string, Set<string>>()
  for (const client of clients) {
    if (client.node === null) return `${client.name} has no node`
    if (client.outbox.size > 0) return `${client.name} has ${client.outbox.size} edits unacknowledged`
    if (client.acked.size !== client.edits.length) return `${client.name}: ${client.acked.size} of ${client.edits.length} edits acknowledged`
    for (const e of client.edits) {
      let set = written.get(e.key)
      if (set === undefined) written.set(e.key, (set = new Set()))
      set.add(e.element)
    }
  }
  for (const [key, elements] of written) {
    const live = c.running().filter((id) => c.replicates(id, key))
    for (const r of live) {
      const held = c.holding(r, key) ?? new Set()
      for (const e of elements) if (!held.has(e)) return `${r} lacks ${key}/${e}`
      for (const e of held) if (!elements.has(e)) return `${r} holds ${key}/${e}, which no client wrote`
    }
  }
  return c.divergence()
}

/**
 * f. The node a client is on is killed while clients edit; 30% of the time it stays down, 30% of the
 * time the node the client moved to is killed too. The client must move on each time.
 */
function failoverScenario(seed: number): Outcome {
  const { c, ids } = boot(seed)
  const rng = c.sim.rng
  c.faults = { ...LAN, duplicate: between(rng, 0, 0.05) }
  const group = new SimClients(c)
  const clients = Array.from({ length: intBetween(rng, 2, 3) }, (_, i) => group.add(`c${i}`, rng() < 0.5 ? 1 : 2, [...ids].sort(() => rng() - 0.5)))
  const mover = clients[0]
  const writeMs = between(rng, 10_000, 20_000)
  const start = c.sim.now
  const end = start + writeMs
  for (const client of clients) {
    const next = (): void => {
      if (c.sim.now > end) return
      client.edit(`gset:doc-${Math.floor(rng() * DOCS)}`)
      c.sim.queue.schedule(c.sim.now + between(rng, 30, 300), next)
    }
    c.sim.queue.schedule(start + between(rng, 0, 300), next)
  }
  let quiet = end
  const kills: { node: NodeId; at: number }[] = []
  const killMoversNode = (restart: boolean): void => {
    const node = mover.node
    if (node === null || c.running().length < 3) return
    group.kill(node)
    kills.push({ node, at: c.sim.now })
    if (!restart) return
    const restartAt = c.sim.now + between(rng, 500, 8000)
    quiet = Math.max(quiet, restartAt)
    c.sim.queue.schedule(restartAt, () => c.start(node, pick(rng, c.running())))
  }
  const firstAt = start + between(rng, 1000, writeMs / 2)
  const staysDown = rng() < 0.3
  c.sim.queue.schedule(firstAt, () => killMoversNode(!staysDown))
  if (rng() < 0.3) c.sim.queue.schedule(firstAt + between(rng, 2000, writeMs / 2 - 1000), () => killMoversNode(true))
  c.sim.runFor(writeMs)
  c.sim.runUntil(() => c.sim.now >= quiet, 10_000)

  const views = Math.max(QUIESCE_BOUND_MS, rejoinBoundMs(ids.length), detectionBoundMs(c.sim.options, ids.length, DEFAULT_TICK_MS) * LOSS_SLACK)
  // Anti-entropy repairs what pushes to a dead replica missed: a few rounds at most once views agree.
  const bound = views + 40 * ANTI_ENTROPY_MS
  const took = c.sim.runUntil(() => c.membershipDivergence() === null && clientDivergence(c, clients) === null, bound, 250)
  if (took === null) fail(c, `not converged ${bound}ms after the last fault: ${clientDivergence(c, clients)}`)
  const lost = c.lost()
  if (lost !== null) fail(c, `acknowledged element lost: ${lost}`)
  if (kills.length === 0) fail(c, 'the mover was never on a node to kill')
  // The mover left every killed node: it was welcomed elsewhere after each kill.
  for (const k of kills) {
    if (!mover.welcomes.some((w) => w.at > k.at && w.node !== k.node)) fail(c, `${mover.name} never moved off ${k.node}, killed at ${k.at}ms`)
  }
  const moves = clients.reduce((n, cl) => n + cl.welcomes.length - 1, 0)
  return {
    ms: took,
    edits: clients.reduce((n, cl) => n + cl.edits.length, 0),
    offlineEdits: clients.reduce((n, cl) => n + cl.offlineEdits, 0),
    reacks: clients.reduce((n, cl) => n + cl.reacks, 0),
    alreadyHeld: clients.reduce((n, cl) => n + cl.alreadyHeld, 0),
    moves,
  }
}

describe('client failover simulation', () => {
  it(`f. the node a client is on dies while it edits (${seeds.length} seed${seeds.length === 1 ? '' : 's'})`, () => {
    const started = performance.now()
    const outcomes: Outcome[] = []
    for (const seed of seeds) {
      try {
        outcomes.push(failoverScenario(seed))
      } catch (err) {
        const why = err instanceof ScenarioFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
        expect.fail(`failover, seed ${seed}: ${why}\nreplay: SIM_SEED=${seed} npx vitest run test/cluster/sim/failover-sim.test.ts`)
      }
    }
    const sum = (f: (o: Outcome) => number) => outcomes.reduce((a, o) => a + f(o), 0)
    const secs = (ms: number) => (ms / 1000).toFixed(1)
    console.log(
      `failover: ${seeds.length} seeds in ${secs(performance.now() - started)}s; slowest convergence ${secs(Math.max(...outcomes.map((o) => o.ms)))}s; ` +
        `${sum((o) => o.edits)} edits (${sum((o) => o.offlineEdits)} made offline), ${sum((o) => o.moves)} moves, ` +
        `${sum((o) => o.alreadyHeld)} edits sent again to a node that held them, ${sum((o) => o.reacks)} acks for edits already acknowledged (not counted twice)`,
    )
    // The checks mean something only if clients did edit offline and resend what a dead node had taken.
    if (replay === null) {
      expect(sum((o) => o.offlineEdits)).toBeGreaterThan(0)
      expect(sum((o) => o.alreadyHeld)).toBeGreaterThan(0)
    }
  })
})
