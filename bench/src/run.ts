#!/usr/bin/env node
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { charts, docsBlock, writeDocs, type RunRecord } from './lib/docs.js'
import { summarizeProfiles } from './lib/profiles.js'
import { waitForQuiet } from './lib/machine.js'
import { placement } from './lib/placement.js'
import { renderScenario, renderSummary } from './lib/report.js'
import type { BenchContext, ScenarioResult } from './lib/scenario.js'
import { killAllServers } from './lib/server-process.js'
import { killAllGenerators } from './lib/generators.js'
import { withTargets } from './lib/targets.js'
import { SystemId, allSystems, hocuspocusRedisSystem, type System } from './lib/systems.js'
import { amSystems } from './scenarios/automerge.js'
import { yjsTraceUpdates, type YjsTraceUpdates } from './lib/trace-updates.js'
import { loadScenarios } from './scenarios/index.js'
import { loadTrace } from './traces.js'

/**
 * `npm run bench [-- --scenario X[,Y]] [--quick] [--trace DIR] [--systems a,b]`: each scenario against
 * Murmur and the peers in one run, each server in its own process, on loopback. Prints the tables,
 * writes JSON and an SVG of the latency distributions to bench/results/.
 */

const here = path.dirname(fileURLToPath(import.meta.url))
/** bench/results, or MURMUR_BENCH_RESULTS_DIR (the smoke test writes to a scratch folder). */
const RESULTS_DIR = process.env.MURMUR_BENCH_RESULTS_DIR ?? path.resolve(here, '../results')
/** `--docs` writes the run into docs/performance.md (between its markers) and the charts into docs/perf/. */
const DOCS_DIR = path.resolve(here, '../../docs')
const USAGE = `usage: npm run bench -- [--scenario id[,id]] [--quick] [--trace DIR] [--systems id[,id]] [--keep] [--profile] [--docs]`
/** Measurements taken on a busy machine are repeated at most this often, and only in the first part of a run. */
const MAX_REPEATS = 6
const REPEAT_BUDGET_MS = 5 * 60_000
/** Open files the idle scenario needs in this process (10,000 client sockets and some). */
const NEEDED_FILES = 12_000

/**
 * Node can neither raise its own open-file limit nor move itself to other cores: run again under a shell
 * that raised the limit to the hard limit, pinned to the generators' cores where the machine allows.
 */
function reexec(): void {
  if (process.env.MURMUR_BENCH_REEXEC === '1') return
  const soft = Number(spawnSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim())
  const pin = placement().generators
  if (!(soft < NEEDED_FILES) && pin.length === 0) return
  const result = spawnSync(
    '/bin/sh',
    ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', ...pin, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, MURMUR_BENCH_REEXEC: '1' } },
  )
  process.exit(result.status ?? 1)
}

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
}

function machine(): RunRecord['machine'] {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  }
}

/** Every system a run measured: the chosen ones, and those scenarios add (the multi-server peer, Automerge's). */
function systemsRun(chosen: readonly System[], scenarios: readonly string[]): System[] {
  const all = [...chosen]
  if (scenarios.includes('fanout') && chosen.some((s) => s.id === SystemId.hocuspocus)) all.push(hocuspocusRedisSystem(3))
  if (scenarios.includes('automerge')) all.push(...amSystems().map((a) => a.system).filter((s) => s.id !== SystemId.murmur || !chosen.some((c) => c.id === s.id)))
  return all
}

async function main(): Promise<number> {
  let args
  try {
    args = parseArgs({
      options: {
        scenario: { type: 'string', multiple: true },
        quick: { type: 'boolean', default: false },
        trace: { type: 'string' },
        systems: { type: 'string' },
        keep: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        docs: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  const scenarios = await loadScenarios()
  if (args.help === true) {
    process.stdout.write(`${USAGE}\nscenarios: ${scenarios.map((s) => s.id).join(', ')}\n`)
    return 0
  }
  const wanted = (args.scenario ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '')
  const unknown = wanted.filter((id) => !scenarios.some((s) => s.id === id))
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.id).join(', ')}\n`)
    return 2
  }
  const selected = wanted.length > 0 ? scenarios.filter((s) => wanted.includes(s.id)) : scenarios
  let systems = allSystems()
  if (args.systems !== undefined) {
    // In the order given, so that order effects (a cold JIT in the bench process) can be checked.
    const all = systems
    systems = args.systems.split(',').flatMap((id) => all.filter((s) => s.id === id))
  }

  const quick = args.quick === true
  if (args.profile === true) {
    const dir = path.join(RESULTS_DIR, 'profiles', stamp(new Date()))
    mkdirSync(dir, { recursive: true })
    process.env.MURMUR_BENCH_PROFILE_DIR = dir
    process.stdout.write(`CPU profiles of the Murmur servers go to ${path.relative(process.cwd(), dir)}\n`)
  }
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'murmur-bench-'))
  const startedAt = new Date()
  let traceUpdates: YjsTraceUpdates | null = null
  let repeats = 0
  const ctx: BenchContext = {
    quick,
    systems,
    workDir,
    traceDir: args.trace,
    traceUpdates() {
      if (traceUpdates === null) {
        const trace = loadTrace('automerge-paper', args.trace ?? process.env.MURMUR_TRACE_DIR)
        // A quick run replays the first 60,000 edits only.
        traceUpdates = yjsTraceUpdates(trace, quick ? 60_000 : Infinity)
        ctx.log(
          `  trace ${trace.name} (${trace.source}): ${traceUpdates.updates.length} updates, final doc ${traceUpdates.finalState.length} bytes, built in ${(traceUpdates.buildMs / 1000).toFixed(1)} s`,
        )
      }
      return traceUpdates
    },
    async settle() {
      if (!quick) await waitForQuiet(3000)
    },
    mayRepeat() {
      // Bounded in number and in time, so that a busy machine cannot push a run past 10 minutes.
      if (repeats >= MAX_REPEATS || Date.now() - startedAt.getTime() > REPEAT_BUDGET_MS) return false
      repeats++
      return true
    },
    log: (message) => process.stdout.write(`${message}\n`),
  }

  ctx.log(`Murmur bench${quick ? ' (quick)' : ''}: ${selected.map((s) => s.id).join(', ')}`)
  ctx.log(`systems: ${systems.map((s) => `${s.label} [${Object.entries(s.versions).map(([k, v]) => `${k} ${v}`).join(', ')}]`).join('; ')}`)
  const results: ScenarioResult[] = []
  try {
    for (const scenario of selected) {
      ctx.log(`\n▶ ${scenario.id}`)
      const result = withTargets(await scenario.run(ctx))
      results.push(result)
      ctx.log(`\n${renderScenario(result)}`)
    }
  } finally {
    killAllServers()
    killAllGenerators()
    if (args.keep !== true) rmSync(workDir, { recursive: true, force: true })
  }

  ctx.log(`\nSummary (${quick ? 'quick run — shorter and smaller than the targets assume' : 'full run'})\n${renderSummary(results)}`)
  mkdirSync(RESULTS_DIR, { recursive: true })
  const name = `bench-${stamp(startedAt)}${quick ? '-quick' : ''}`
  const profileDir = process.env.MURMUR_BENCH_PROFILE_DIR
  const json: RunRecord = {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    quick,
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    machine: machine(),
    placement: placement().description,
    systems: systemsRun(systems, selected.map((s) => s.id)).map((s) => ({ id: s.id, label: s.label, peer: s.peer, persistence: s.persistence, versions: s.versions })),
    results,
    profiles: profileDir === undefined ? undefined : summarizeProfiles(profileDir),
  }
  writeFileSync(path.join(RESULTS_DIR, `${name}.json`), JSON.stringify(json, null, 1))
  writeFileSync(path.join(RESULTS_DIR, 'latest.json'), JSON.stringify(json, null, 1))
  // The same tables in Markdown, and the charts beside them (docs/performance.md shows copies of both).
  const markdown = docsBlock(json, '.', [...charts(json).keys()].map((f) => `${name}-${f}`)) + '\n'
  writeFileSync(path.join(RESULTS_DIR, `${name}.md`), markdown)
  writeFileSync(path.join(RESULTS_DIR, 'latest.md'), markdown)
  for (const [file, svg] of charts(json)) {
    writeFileSync(path.join(RESULTS_DIR, `${name}-${file}`), svg)
    writeFileSync(path.join(RESULTS_DIR, `latest-${file}`), svg)
  }
  if (args.docs === true) {
    for (const file of writeDocs(json, DOCS_DIR)) ctx.log(`wrote ${path.relative(process.cwd(), file)}`)
  }
  ctx.log(`\nwrote ${path.relative(process.cwd(), path.join(RESULTS_DIR, `${name}.json`))}, .md and the charts (also latest*); total ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`)
  return 0
}

reexec()
// Every y-websocket provider adds a process 'exit' listener; a thousand of them are expected here.
process.setMaxListeners(0)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllServers()
    killAllGenerators()
    process.exit(130)
  })
}
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    killAllServers()
    killAllGenerators()
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
