import { describe, expect, it } from 'vitest'
import { asNodeId, type NodeId } from '@murmur/shared'
import { detectionBoundMs } from '../../../server/dist/cluster/membership.js'
import { MemberState } from '../../../server/dist/cluster/membership-api.js'
import { between, intBetween, type Faults } from './network.js'
import { PresenceCluster } from './presence.js'
import { LAN, ScenarioFailure, rejoinBoundMs } from './scenarios.js'
import { DEFAULT_TICK_MS, Simulation } from './simulation.js'

/**
 * Deterministic simulation of presence across nodes: real membership and the real `ClusterPresence` on
 * every node (see presence.ts), on a LAN that delays, reorders and duplicates. Presence set on one node
 * must be on every node (its table, and what its clients were told) one network hop later; a crashed
 * node's presence must be gone everywhere within the membership detection bound; a restarted node's
 * new presence reaches everyone again. SIM_SEED=<n> replays one seed, SIM_SEEDS=<count> runs more or fewer.
 */
const replay = process.env.SIM_SEED === undefined ? null : Number(process.env.SIM_SEED)
const COUNT = Number(process.env.SIM_SEEDS ?? 200)
const seeds = replay !== null ? [replay] : Array.from({ length: COUNT }, (_, i) => i + 1)

const FAULTS: Faults = { ...LAN, duplicate: 0.02 }
/** One hop: the longest delay of the network, and a step of the driver loop. */
const ONE_HOP_MS = FAULTS.maxDelayMs + 2

function fail(c: PresenceCluster, why: string): never {
  throw new ScenarioFailure(`${why}\nat ${c.sim.now}ms; views:\n${c.sim.dump()}`)
}

function converge(c: PresenceCluster, boundMs: number, what: string): number {
  const took = c.sim.runUntil(() => c.divergence() === null, boundMs, 1)
  if (took === null) fail(c, `${what}: presence did not converge within ${boundMs}ms: ${c.divergence()}`)
  if (c.sim.violations.length > 0) fail(c, `membership invariant violated: ${c.sim.violations[0]}`)
  return took
}

const state = (node: NodeId, k: number, round: number): string => JSON.stringify({ user: `${node}/${k}`, round })

/** Returns the time from the crash until no node showed the crashed node's presence, over its bound. */
function presenceScenario(seed: number): number {
  const sim = new Simulation({ seed, forbidFalseDeaths: true })
  const c = new PresenceCluster(sim)
  sim.faults = FAULTS
  c.network.faults = FAULTS
  const n = intBetween(sim.rng, 3, 7)
  const ids = Array.from({ length: n }, (_, i) => asNodeId(`n${i}`))
  c.start(ids[0])
  for (const id of ids.slice(1)) sim.queue.schedule(sim.now + between(sim.rng, 0, 2000), () => c.start(id, ids[0]))
  sim.runFor(2000)
  if (sim.runUntil(() => sim.allSee(ids, MemberState.alive) && sim.viewsAgree(), rejoinBoundMs(n)) === null) fail(c, 'the nodes never all met')
  // The watches sent as the last nodes met are still on their way.
  sim.runFor(ONE_HOP_MS)

  // Every node's clients announce themselves: one hop later every node shows them all.
  const clientsOf = new Map<NodeId, number[]>()
  ids.forEach((id, i) => {
    const clients = Array.from({ length: intBetween(sim.rng, 1, 3) }, (_, k) => i * 100 + k)
    clientsOf.set(id, clients)
    clients.forEach((clientId, k) => c.run(id).announce(clientId, state(id, k, 0)))
  })
  converge(c, ONE_HOP_MS, 'first announcements')

  // Changes on random nodes, each one hop from everywhere.
  for (let round = 1; round <= 5; round++) {
    const id = ids[Math.floor(sim.rng() * n)]
    const clients = clientsOf.get(id) ?? []
    const k = Math.floor(sim.rng() * clients.length)
    c.run(id).announce(clients[k], state(id, k, round))
    converge(c, ONE_HOP_MS, `change ${round}`)
    sim.runFor(between(sim.rng, 0, 500))
  }

  // A node crashes silently: only membership can tell the others, within its detection bound.
  const victim = ids[Math.floor(sim.rng() * n)]
  c.crash(victim)
  const crashedAt = sim.now
  const bound = detectionBoundMs(sim.options, n, DEFAULT_TICK_MS) + FAULTS.maxDelayMs
  const gone = sim.runUntil(() => c.leftovers(clientsOf.get(victim) ?? []) === null, bound, 10)
  if (gone === null) fail(c, `${victim}'s presence outlived its detection bound (${bound}ms): ${c.leftovers(clientsOf.get(victim) ?? [])}`)
  const took = sim.now - crashedAt
  converge(c, ONE_HOP_MS, 'after the crash')

  // It restarts with new clients: everyone sees them once it is back.
  const seed0 = ids.find((id) => id !== victim) as NodeId
  c.start(victim, seed0)
  c.run(victim).announce(9000, state(victim, 0, 99))
  if (sim.runUntil(() => sim.allSee(ids, MemberState.alive) && sim.viewsAgree(), rejoinBoundMs(n)) === null) fail(c, `${victim} never came back`)
  converge(c, rejoinBoundMs(n), 'after the restart')
  return took / bound
}

describe('presence simulation', () => {
  it(`presence relay: set on one node reaches all in one hop; a crashed node's presence goes within the detection bound (${seeds.length} seeds)`, () => {
    const started = performance.now()
    const ratios: number[] = []
    for (const seed of seeds) {
      try {
        ratios.push(presenceScenario(seed))
      } catch (err) {
        const why = err instanceof ScenarioFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
        expect.fail(`presence relay, seed ${seed}: ${why}\nreplay: SIM_SEED=${seed} npx vitest run test/cluster/sim/presence-sim.test.ts`)
      }
    }
    ratios.sort((a, b) => a - b)
    const pct = (p: number): string => ratios[Math.min(ratios.length - 1, Math.floor(p * ratios.length))].toFixed(2)
    console.log(`presence relay: ${seeds.length} seeds in ${((performance.now() - started) / 1000).toFixed(1)}s; removal/detection bound median ${pct(0.5)}, max ${pct(1)}`)
  })
})
