import { spawnSync } from 'node:child_process'
import os from 'node:os'

/**
 * Where the bench's processes run. Where the machine allows (taskset from util-linux, at least 2 cores),
 * the servers under test are pinned to the first half of the cores and every load generator (the bench
 * process, its generator processes and helper scripts) to the rest, so that a server never waits for a
 * core behind its own load. `MURMUR_BENCH_PIN=0` turns it off.
 */
export interface Placement {
  /** Prefix for a server's command line (`taskset -c 0`), empty when not pinned. */
  readonly server: readonly string[]
  /** Prefix for a generator's command line, empty when not pinned. */
  readonly generators: readonly string[]
  /** Cores the generators may use (all of them when not pinned). */
  readonly generatorCores: number
  /** In a few words, for each row: how the processes were placed. */
  readonly description: string
}

function cpuList(from: number, to: number): string {
  return from === to ? String(from) : `${from}-${to}`
}

let cached: Placement | null = null

export function placement(): Placement {
  if (cached !== null) return cached
  const cores = os.cpus().length
  const taskset = spawnSync('taskset', ['-V'], { encoding: 'utf8' }).status === 0
  if (process.env.MURMUR_BENCH_PIN === '0' || !taskset || cores < 2) {
    const why = process.env.MURMUR_BENCH_PIN === '0' ? 'pinning off' : !taskset ? 'no taskset' : 'one core'
    cached = { server: [], generators: [], generatorCores: cores, description: `not pinned (${why}): servers and generators share ${cores} cores` }
    return cached
  }
  const serverCores = Math.floor(cores / 2)
  const servers = cpuList(0, serverCores - 1)
  const generators = cpuList(serverCores, cores - 1)
  cached = {
    server: ['taskset', '-c', servers],
    generators: ['taskset', '-c', generators],
    generatorCores: cores - serverCores,
    description: `servers on CPU ${servers}, generators on CPU ${generators}`,
  }
  return cached
}
