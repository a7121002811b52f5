import { describe, expect, it } from 'vitest'
import { asNodeId, type NodeId } from '@murmur/shared'
import { detectionBoundMs } from '../../../server/dist/cluster/membership.js'
import { MemberState } from '../../../server/dist/cluster/membership-api.js'
import { between, intBetween, type Rng } from './network.js'
import { ReplicaCluster } from './replicas.js'
import { LAN, LEFT_BOUND_MS, LOSS_SLACK, QUIESCE_BOUND_MS, ScenarioFailure, rejoinBoundMs } from './scenarios.js'
import { DEFAULT_TICK_MS, Simulation } from './simulation.js'

/**
 * Deterministic simulation of anti-entropy and acknowledged writes: real membership, placement, version
 * index and anti-entropy on every node (see replicas.ts), clients writing to random running nodes under
 * seeded loss, partitions and crashes. After the faults stop, within the bound, every acknowledged
 * element must be on every live replica of its doc, all live replicas must hold the same version, and
 * membership views must agree. SIM_SEED=<n> replays one seed, SIM_SEEDS=<count> runs more or fewer.
 */
const replay = process.env.SIM_SEED === undefined ? null : Number(process.env.SIM_SEED)
const COUNT = Number(process.env.SIM_SEEDS ?? 200)
const seeds = replay !== null ? [replay] : Array.from({ length: COUNT }, (_, i) => i + 1)

/**
 * SIM_W=1 makes every client use the node's default W = 1 through any node (see the note on
 * `writeUntil`); SIM_W=2 or 3 makes every client ask for that many replicas.
 */
const FORCED_W = process.env.SIM_W === undefined ? null : Number(process.env.SIM_W)
const REPLICATION_FACTOR = 3
/** Shorter than the node's 5 s default, to keep the simulated time (and the bound) short. */
const ANTI_ENTROPY_MS = 2000
const DOCS = 12
/** Anti-entropy messages and one repair exchange, 25 ms each way at most once faults stop. */
const ROUND_TRIP_SLACK_MS = 6 * LAN.maxDelayMs

/**
 * The anti-entropy part of the bound. A round picks a random peer, so the bound is probabilistic. Once
 * views and placement agree and nothing is lost, a doc's 3 replicas are equal after each pair of them has
 * had a round, in any order (a round leaves both sides with the union, and union only grows). Each of n
 * nodes starts one round per interval with one of at most n − 1 peers, so a given pair has one in an
 * interval with probability p ≥ 1 − (1 − 1/(n − 1))² and misses k intervals in a row with probability
 * (1 − p)^k. The bound takes k for 1e-7 (negligible over 200 seeds × 12 docs × 3 pairs), one interval of
 * phase and the round trips: 26 s for 3 nodes, 60 s for 5, 92 s for 7, 172 s for 12. The membership part
 * (views agree, so placement agrees) is added per scenario.
 */
function antiEntropyBoundMs(n: number): number {
  if (n < 2) return 0
  const p = 1 - (1 - 1 / (n - 1)) ** 2
  const k = p >= 1 ? 1 : Math.ceil(Math.log(1e-7) / Math.log(1 - p))
  return (k + 1) * ANTI_ENTROPY_MS + ROUND_TRIP_SLACK_MS
}

interface Outcome {
  /** From quiescence (last write, heal, last restart) to convergence. */
  readonly ms: number
  readonly bound: number
  /** From quiescence until membership views agreed (data may still have been converging). */
  readonly viewsMs: number
  readonly writes: number
  /** Acknowledged writes taken by a node that does not replicate the doc. */
  readonly viaNonReplica: number
  readonly repairs: number
  readonly hintsReplayed: number
  /** Acknowledged elements only on replicas left down at the end. */
  readonly unavailable: number
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]
const docKey = (i: number): string => `gset:doc-${i}`

function fail(c: ReplicaCluster, why: string): never {
  const views = c.running().length > 0 ? c.sim.dump() : '(no node running)'
  throw new ScenarioFailure(`${why}\nat ${c.sim.now}ms; views:\n${views}`)
}

function checkMembershipInvariants(c: ReplicaCluster): void {
  if (c.sim.violations.length > 0) fail(c, `membership invariant violated: ${c.sim.violations[0]}`)
}

/** n nodes (mostly 3–7, every tenth seed 9–12) join through n0 on a fault-free LAN. */
function boot(seed: number, minNodes: number): { c: ReplicaCluster; ids: NodeId[] } {
  // Loss, partitions and crashes here rightly get live nodes declared dead now and then.
  const sim = new Simulation({ seed, forbidFalseDeaths: false })
  const c = new ReplicaCluster(sim, { replicationFactor: REPLICATION_FACTOR, antiEntropyMs: ANTI_ENTROPY_MS })
  const n = seed % 10 === 0 ? intBetween(sim.rng, 9, 12) : intBetween(sim.rng, minNodes, 7)
  const ids = Array.from({ length: n }, (_, i) => asNodeId(`n${i}`))
  c.faults = LAN
  c.start(ids[0])
  for (const id of ids.slice(1)) sim.queue.schedule(sim.now + between(sim.rng, 0, 2000), () => c.start(id, ids[0]))
  sim.runFor(2000)
  if (sim.runUntil(() => sim.allSee(ids, MemberState.alive) && sim.viewsAgree(), rejoinBoundMs(n)) === null) {
    fail(c, `${n} nodes did not all see each other alive`)
  }
  return { c, ids }
}

/**
 * Clients write a fresh element to a random doc every 20–200 ms until `until`, through any running
 * node. Half use the default W = 1, half ask for W = 2. A node that does not replicate the doc acks a
 * W = 1 write only once a replica holds it (otherwise its pushes could all be lost and leave the only
 * copy there, out of anti-entropy's reach); seed 104 of scenario a. showed that before the node did so.
 */
function writeUntil(c: ReplicaCluster, until: number): void {
  const rng = c.sim.rng
  const next = (): void => {
    if (c.sim.now > until) return
    const key = docKey(Math.floor(rng() * DOCS))
    const w = FORCED_W ?? (rng() < 0.5 ? 1 : 2)
    const up = c.running()
    if (up.length > 0) c.write(pick(rng, up), key, `e${c.counters.attempts}`, w)
    c.sim.queue.schedule(c.sim.now + between(rng, 20, 200), next)
  }
  c.sim.queue.schedule(c.sim.now + between(rng, 20, 200), next)
}

/**
 * Faults have stopped at `since`: the cluster must converge within `bound` of it, nothing acknowledged
 * may be lost, and once converged, anti-entropy must find nothing more to repair (steady state).
 */
function converge(c: ReplicaCluster, since: number, bound: number): Outcome {
  c.faults = LAN
  let viewsAt: number | null = null
  const converged = (): boolean => {
    if (c.membershipDivergence() !== null) return false
    viewsAt ??= c.sim.now
    return c.divergence() === null
  }
  if (c.sim.runUntil(converged, bound - (c.sim.now - since), 250) === null) {
    fail(c, `not converged ${bound}ms after quiescence at ${since}ms: ${c.divergence()}`)
  }
  const ms = c.sim.now - since
  const lost = c.lost()
  if (lost !== null) fail(c, `acknowledged element lost: ${lost}`)
  checkMembershipInvariants(c)
  // Rounds in flight at convergence may still compare stale versions; after that, nothing to repair.
  c.sim.runFor(ANTI_ENTROPY_MS)
  const repairs = c.counters.repairs
  c.sim.runFor(3 * ANTI_ENTROPY_MS)
  if (c.counters.repairs !== repairs) fail(c, `${c.counters.repairs - repairs} repairs after convergence (steady state must be 0)`)
  const after = c.divergence()
  if (after !== null) fail(c, `diverged again after convergence: ${after}`)
  return {
    ms,
    bound,
    viewsMs: (viewsAt ?? c.sim.now) - since,
    writes: c.counters.writes,
    viaNonReplica: c.counters.viaNonReplica,
    repairs: c.counters.repairs,
    hintsReplayed: c.counters.hintsReplayed,
    unavailable: c.unavailable(),
  }
}

/** a. Writes under loss (≤ 10%), duplicates and delays, then faults off. */
function lossScenario(seed: number): Outcome {
  const { c, ids } = boot(seed, 3)
  const rng = c.sim.rng
  c.faults = { ...LAN, drop: between(rng, 0, 0.1), duplicate: between(rng, 0, 0.05) }
  const writeMs = between(rng, 5000, 15_000)
  writeUntil(c, c.sim.now + writeMs)
  c.sim.runFor(writeMs)
  return converge(c, c.sim.now, QUIESCE_BOUND_MS + antiEntropyBoundMs(ids.length))
}

/** b. A partition (1–30 s) cuts the cluster in two while clients write on both sides, then heals. */
function partitionScenario(seed: number): Outcome {
  const { c, ids } = boot(seed, 4)
  const rng = c.sim.rng
  c.faults = { ...LAN, drop: between(rng, 0, 0.05), duplicate: 0.02 }
  const before = between(rng, 0, 5000)
  const cutMs = between(rng, 1000, 30_000)
  writeUntil(c, c.sim.now + before + cutMs)
  c.sim.runFor(before)
  const shuffled = [...ids].sort(() => rng() - 0.5)
  const cut = intBetween(rng, 1, ids.length - 1)
  c.partition([shuffled.slice(0, cut), shuffled.slice(cut)])
  c.sim.runFor(cutMs)
  c.heal()
  return converge(c, c.sim.now, Math.max(QUIESCE_BOUND_MS, rejoinBoundMs(ids.length)) + antiEntropyBoundMs(ids.length))
}

/**
 * c. Nodes crash while clients write (1–3 crashes, at least two nodes always running) and restart
 * through a running node 0.5–8 s later; sometimes the last one stays down. A crash keeps the durable
 * docs and loses hints, loaded docs and rounds in flight.
 */
function crashScenario(seed: number): Outcome {
  const { c, ids } = boot(seed, 3)
  const rng = c.sim.rng
  c.faults = { ...LAN, drop: between(rng, 0, 0.05), duplicate: 0.02 }
  const writeMs = between(rng, 10_000, 20_000)
  const start = c.sim.now
  writeUntil(c, start + writeMs)
  const crashes = intBetween(rng, 1, 3)
  const staysDown = rng() < 0.3
  let quiet = start + writeMs
  for (let i = 0; i < crashes; i++) {
    const last = i === crashes - 1
    c.sim.queue.schedule(start + between(rng, 0, writeMs - 8000), () => {
      const up = c.running()
      if (up.length < 3) return
      const victim = pick(rng, up)
      c.crash(victim)
      if (last && staysDown) return
      const restartAt = c.sim.now + between(rng, 500, 8000)
      quiet = Math.max(quiet, restartAt)
      c.sim.queue.schedule(restartAt, () => c.start(victim, pick(rng, c.running())))
    })
  }
  c.sim.runFor(writeMs)
  c.sim.runUntil(() => c.sim.now >= quiet, 10_000)
  const views = Math.max(QUIESCE_BOUND_MS, rejoinBoundMs(ids.length), detectionBoundMs(c.sim.options, ids.length, DEFAULT_TICK_MS) * LOSS_SLACK)
  return converge(c, quiet, views + antiEntropyBoundMs(ids.length))
}

/**
 * d. Everything at once, then quiescence: loss, a partition and crashes overlap while clients write.
 * Membership views must agree again (every scenario checks that as part of convergence; here the
 * faults interact: a node may crash inside a partition and restart on the other side of it).
 */
function mixedScenario(seed: number): Outcome {
  const { c, ids } = boot(seed, 4)
  const rng = c.sim.rng
  c.faults = { ...LAN, drop: between(rng, 0, 0.05), duplicate: between(rng, 0, 0.05) }
  const writeMs = between(rng, 15_000, 25_000)
  const start = c.sim.now
  writeUntil(c, start + writeMs)
  let quiet = start + writeMs
  const cutAt = start + between(rng, 0, writeMs / 2)
  const healAt = cutAt + between(rng, 1000, writeMs / 2)
  c.sim.queue.schedule(cutAt, () => {
    const shuffled = [...ids].sort(() => rng() - 0.5)
    const cut = intBetween(rng, 1, ids.length - 1)
    c.partition([shuffled.slice(0, cut), shuffled.slice(cut)])
  })
  c.sim.queue.schedule(healAt, () => c.heal())
  for (let i = intBetween(rng, 1, 2); i > 0; i--) {
    c.sim.queue.schedule(start + between(rng, 0, writeMs - 8000), () => {
      const up = c.running()
      if (up.length < 3) return
      const victim = pick(rng, up)
      c.crash(victim)
      const restartAt = c.sim.now + between(rng, 500, 8000)
      quiet = Math.max(quiet, restartAt)
      c.sim.queue.schedule(restartAt, () => c.start(victim, pick(rng, c.running())))
    })
  }
  c.sim.runFor(writeMs)
  c.sim.runUntil(() => c.sim.now >= quiet, 10_000)
  return converge(c, Math.max(quiet, healAt), Math.max(QUIESCE_BOUND_MS, rejoinBoundMs(ids.length)) + antiEntropyBoundMs(ids.length))
}

/**
 * e. An operator decommissions a member while clients write: its partitions move to other members,
 * which get the docs only through anti-entropy with the remaining replicas.
 */
function decommissionScenario(seed: number): Outcome {
  const { c, ids } = boot(seed, 4)
  const rng = c.sim.rng
  const lossy = rng() < 0.5
  c.faults = { ...LAN, drop: lossy ? between(rng, 0, 0.05) : 0, duplicate: 0.02 }
  const writeMs = between(rng, 10_000, 20_000)
  const end = c.sim.now + writeMs
  writeUntil(c, end)
  c.sim.runFor(between(rng, 1000, writeMs - 1000))
  const victim = pick(rng, ids)
  c.decommission(pick(rng, ids.filter((id) => id !== victim)), victim)
  c.sim.runFor(end - c.sim.now)
  return converge(c, c.sim.now, QUIESCE_BOUND_MS + LEFT_BOUND_MS + antiEntropyBoundMs(ids.length))
}

function overSeeds(name: string, run: (seed: number) => Outcome): void {
  it(`${name} (${seeds.length} seed${seeds.length === 1 ? '' : 's'})`, () => {
    const started = performance.now()
    const outcomes: Outcome[] = []
    for (const seed of seeds) {
      try {
        outcomes.push(run(seed))
      } catch (err) {
        const why = err instanceof ScenarioFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
        const env = FORCED_W === null ? '' : `SIM_W=${FORCED_W} `
        expect.fail(`${name}, seed ${seed}: ${why}\nreplay: ${env}SIM_SEED=${seed} npx vitest run test/cluster/sim/anti-entropy-sim.test.ts -t "${name}"`)
      }
    }
    const sum = (f: (o: Outcome) => number) => outcomes.reduce((a, o) => a + f(o), 0)
    const max = (f: (o: Outcome) => number) => Math.max(...outcomes.map(f))
    const ratios = outcomes.map((o) => o.ms / o.bound).sort((a, b) => a - b)
    const pct = (p: number) => ratios[Math.min(ratios.length - 1, Math.floor(p * ratios.length))].toFixed(2)
    const secs = (ms: number) => (ms / 1000).toFixed(1)
    console.log(
      `${name}: ${seeds.length} seeds in ${secs(performance.now() - started)}s; converged/bound median ${pct(0.5)}, ` +
        `p99 ${pct(0.99)}, max ${pct(1)}; slowest ${secs(max((o) => o.ms))}s (views ${secs(max((o) => o.viewsMs))}s, ` +
        `data after views ${secs(max((o) => o.ms - o.viewsMs))}s); ${sum((o) => o.writes)} writes acknowledged ` +
        `(${sum((o) => o.viaNonReplica)} through non-replicas), ${sum((o) => o.repairs)} docs repaired, ` +
        `${sum((o) => o.hintsReplayed)} hints replayed, ${sum((o) => o.unavailable)} only on a replica left down`,
    )
    // The checks mean something only if anti-entropy had work to do.
    if (replay === null) expect(sum((o) => o.repairs)).toBeGreaterThan(0)
  })
}

describe('anti-entropy simulation', () => {
  overSeeds('a. writes under loss, then quiescence', lossScenario)
  overSeeds('b. partition during writes, then heal', partitionScenario)
  overSeeds('c. crashes and restarts during writes', crashScenario)
  overSeeds('d. loss, partition and crashes at once: views agree after quiescence', mixedScenario)
  overSeeds('e. decommission during writes', decommissionScenario)
})
