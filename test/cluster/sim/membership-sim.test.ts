import { describe, expect, it } from 'vitest'
import {
  ScenarioFailure,
  crashScenario,
  decommissionScenario,
  joinScenario,
  partitionScenario,
  restartScenario,
  steadyScenario,
  type Outcome,
} from './scenarios.js'

/**
 * Deterministic simulation of SWIM membership: every scenario runs on many seeds; a failure names its
 * seed and the command that replays exactly that run. SIM_SEED=<n> replays one seed, SIM_SEEDS=<count>
 * runs more (or fewer) than the default 200.
 */
const replay = process.env.SIM_SEED === undefined ? null : Number(process.env.SIM_SEED)
const COUNT = Number(process.env.SIM_SEEDS ?? 200)
const seeds = replay !== null ? [replay] : Array.from({ length: COUNT }, (_, i) => i + 1)

function overSeeds(name: string, run: (seed: number) => Outcome, check?: (outcomes: Outcome[]) => void): void {
  it(`${name} (${seeds.length} seed${seeds.length === 1 ? '' : 's'})`, () => {
    const started = performance.now()
    const ratios: number[] = []
    const outcomes: Outcome[] = []
    for (const seed of seeds) {
      try {
        const outcome = run(seed)
        outcomes.push(outcome)
        if (outcome.ratio !== undefined) ratios.push(outcome.ratio)
      } catch (err) {
        const why = err instanceof ScenarioFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
        expect.fail(`${name}, seed ${seed}: ${why}\nreplay: SIM_SEED=${seed} npx vitest run test/cluster/sim -t "${name}"`)
      }
    }
    ratios.sort((a, b) => a - b)
    const pct = (p: number) => ratios[Math.min(ratios.length - 1, Math.floor(p * ratios.length))].toFixed(2)
    const secs = ((performance.now() - started) / 1000).toFixed(1)
    const figures = ratios.length === 0 ? '' : `; figure/bound median ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)}`
    console.log(`${name}: ${seeds.length} seeds in ${secs}s${figures}`)
    check?.(outcomes)
  })
}

describe('membership simulation', () => {
  overSeeds('join', joinScenario)
  overSeeds('steady under 5% loss', steadyScenario, (outcomes) => {
    // The no-false-death check means something only if suspicions did happen and were refuted.
    if (replay !== null) return
    const sum = (f: (o: Outcome) => number | undefined) => outcomes.reduce((a, o) => a + (f(o) ?? 0), 0)
    console.log(`steady under 5% loss: ${sum((o) => o.suspicions)} suspicions, ${sum((o) => o.refutations)} refutations, no false death`)
    expect(sum((o) => o.refutations)).toBeGreaterThan(0)
  })
  overSeeds('crash without loss', (seed) => crashScenario(seed, false))
  overSeeds('crash with 5% loss', (seed) => crashScenario(seed, true))
  overSeeds('restart', restartScenario)
  overSeeds('partition and heal', partitionScenario)
  overSeeds('decommission', decommissionScenario)
})
