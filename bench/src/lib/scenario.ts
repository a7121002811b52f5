import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Summary } from './stats.js'
import { waitForQuiet } from './machine.js'
import { ServerProcess } from './server-process.js'
import type { System } from './systems.js'
import type { YjsTraceUpdates } from './trace-updates.js'

/** A column of a scenario's table. */
export interface Column {
  readonly key: string
  readonly label: string
  readonly unit: Unit
  /** Which way is better, for the ratio column. */
  readonly better?: 'lower' | 'higher'
}
export type Unit = 'ms' | 's' | 'per-s' | 'bytes' | 'ratio' | 'percent' | 'cores' | 'count'

export const RowStatus = {
  ok: 'ok',
  /** The system cannot run this scenario (no persistence, no cluster, no acks). */
  notApplicable: 'n/a',
  /** Murmur has not got the feature yet. */
  notYet: 'not available yet',
  failed: 'failed',
} as const
export type RowStatus = (typeof RowStatus)[keyof typeof RowStatus]

export interface Row {
  readonly system: string
  readonly systemId: string
  readonly peer: boolean
  readonly status: RowStatus
  /** Persistence, or why the row has no figures. */
  readonly note: string
  readonly values: Readonly<Record<string, number>>
  /** A row of another kind than the systems compared (no ratio to the best peer). */
  readonly noRatio?: boolean
  /** Not a measurement of the server: a load generator was the bottleneck (also has `noRatio`). */
  readonly invalid?: boolean
  /** The latency distribution measured with this row, if any (moved to the result's list). */
  readonly distribution?: Distribution
}

/** The rows without their distributions, and the distributions in row order. */
export function splitDistributions(rows: readonly Row[]): { rows: Row[]; distributions: Distribution[] } {
  const distributions: Distribution[] = []
  const plain = rows.map(({ distribution, ...row }) => {
    if (distribution !== undefined) distributions.push(distribution)
    return row
  })
  return { rows: plain, distributions }
}

export interface Distribution {
  readonly label: string
  readonly unit: 'ms'
  readonly summary: Summary
  readonly cdf: [number, number][]
}

export interface ScenarioResult {
  readonly id: string
  readonly title: string
  /** Exactly what is measured, one paragraph. */
  readonly measures: string
  readonly target: string
  readonly params: object
  readonly columns: readonly Column[]
  /** The column the ratio to the best peer is taken on. */
  readonly ratioKey: string | null
  readonly rows: readonly Row[]
  readonly distributions: readonly Distribution[]
  /** Whether Murmur met the target in this run (null: cannot tell). */
  readonly targetMet: boolean | null
  readonly notes: readonly string[]
  readonly durationMs: number
}

export interface BenchContext {
  readonly quick: boolean
  readonly systems: readonly System[]
  /** Scratch folder of this run (data dirs); deleted at the end. */
  readonly workDir: string
  /** Trace path option (`--trace`), or the default folder. */
  readonly traceDir: string | undefined
  /** The editing trace as Yjs updates, computed once per run. */
  traceUpdates(): YjsTraceUpdates
  /** Wait (a few seconds at most; not at all in a quick run) for the machine to be quiet. */
  settle(): Promise<void>
  /** True while the run has time left to repeat a measurement taken on a busy machine. */
  mayRepeat(): boolean
  log(message: string): void
}

export interface Scenario {
  readonly id: string
  readonly title: string
  run(ctx: BenchContext): Promise<ScenarioResult>
}

/** A fresh data folder for one server of one scenario. */
export function dataDir(ctx: BenchContext, scenario: string, system: System): string {
  const dir = path.join(ctx.workDir, `${scenario}-${system.id}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * Start `system`'s server, run `fn`, and stop the server whatever happens. Waits a few seconds at most
 * for the machine to be quiet first, so one system is not measured while something else is busy.
 */
export async function withServer<T>(
  ctx: BenchContext,
  scenario: string,
  system: System,
  fn: (server: ServerProcess) => Promise<T>,
  nodeArgs?: readonly string[],
): Promise<T> {
  await ctx.settle()
  const server = await ServerProcess.start({ ...system.launch(dataDir(ctx, scenario, system)), nodeArgs, profileName: `${scenario}-${system.id}` })
  try {
    return await fn(server)
  } finally {
    await server.stop().catch(() => server.kill())
  }
}

export function okRow(system: System, values: Record<string, number>, note = system.persistence): Row {
  return { system: system.label, systemId: system.id, peer: system.peer, status: RowStatus.ok, note, values }
}

export function statusRow(system: { label: string; id: string; peer: boolean }, status: RowStatus, note: string): Row {
  return { system: system.label, systemId: system.id, peer: system.peer, status, note, values: {} }
}

/** Other processes using more than this many cores during a measurement make it worth repeating. */
const BUSY_CORES = 0.5

/**
 * `measureRow`, repeated once (after waiting for a quiet machine) when other processes used more than
 * half a core meanwhile; the row measured on the quieter machine is kept. Rows carry `otherCpu`.
 */
export async function measureRowQuietly(ctx: BenchContext, system: System, fn: () => Promise<Row>): Promise<Row> {
  const first = await measureRow(ctx, system, fn)
  const busy = first.values.otherCpu
  if (ctx.quick || first.status !== RowStatus.ok || !(busy > BUSY_CORES) || !ctx.mayRepeat()) return first
  ctx.log(`    other processes used ${busy.toFixed(2)} cores meanwhile: measuring again`)
  await waitForQuiet(10_000)
  const second = await measureRow(ctx, system, fn)
  return second.status === RowStatus.ok && second.values.otherCpu < busy ? second : first
}

/** Run one system's part of a scenario; a failure becomes a "failed" row rather than ending the run. */
export async function measureRow(ctx: BenchContext, system: System, fn: () => Promise<Row>): Promise<Row> {
  try {
    return await fn()
  } catch (err) {
    ctx.log(`  ${system.label}: failed: ${(err as Error).message}`)
    return statusRow(system, RowStatus.failed, (err as Error).message.split('\n')[0].slice(0, 160))
  }
}
