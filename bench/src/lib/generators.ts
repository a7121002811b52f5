import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { placement } from './placement.js'
import { CpuMeter } from './proc.js'
import { withTimeout } from './timing.js'

/**
 * Load generators in processes of their own, so that the clients' work is spread over several event
 * loops and each one's CPU is measured apart: a generator near a full core queues what it receives, and
 * the latency it records is then its own, not the server's. Rows whose busiest generator is above
 * GENERATOR_LIMIT cores are marked invalid and get no ratio.
 */

const here = path.dirname(fileURLToPath(import.meta.url))

/** Above this share of a core, a generator process is the bottleneck and its row is not a measurement. */
export const GENERATOR_LIMIT = 0.8

/** Milliseconds on the machine's monotonic clock, the same in every process (Linux CLOCK_MONOTONIC). */
export function clockMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Send a message from a generator process to the bench process. */
export function sendToBench(msg: FromGenerator): void {
  process.send?.(msg)
}

/** A growing run of numbers (a fixed count per arrival), handed to the bench process as one Float64Array. */
export class Floats {
  private data: Float64Array
  private length = 0

  constructor(capacity: number) {
    this.data = new Float64Array(capacity)
  }

  push(...values: number[]): void {
    if (this.length + values.length > this.data.length) {
      const grown = new Float64Array(Math.max(this.data.length * 2, this.length + values.length))
      grown.set(this.data)
      this.data = grown
    }
    this.data.set(values, this.length)
    this.length += values.length
  }

  toArray(): Float64Array {
    return this.data.slice(0, this.length)
  }
}

export type ToGenerator =
  | { readonly type: 'open'; readonly systemId: string; readonly urls: readonly string[]; readonly docId: string; readonly indices: readonly number[]; readonly writers: number }
  /** Writers start at `t0`; arrivals before `keepFrom` (before the measuring window) are not kept. */
  | { readonly type: 'start'; readonly t0: number; readonly keepFrom: number; readonly writers: number; readonly perWriterPerSecond: number }
  | { readonly type: 'stop' }
  | { readonly type: 'report' }
  | { readonly type: 'close' }
  /** Automerge fanout: open the clients `indices` (in order) of `docId`; null: the first one creates it. */
  | { readonly type: 'am-open'; readonly wire: string; readonly url: string; readonly docId: string | null; readonly indices: readonly number[]; readonly writers: number }
  /** Ingest: open `count` protocol-level readers of `docId`. */
  | { readonly type: 'readers'; readonly systemId: string; readonly wsBase: string; readonly docId: string; readonly count: number }

export type FromGenerator =
  | { readonly type: 'ready' }
  | { readonly type: 'opened' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'report'; readonly sent: [number, number[]][]; readonly arrivals: Float64Array }
  | { readonly type: 'am-opened'; readonly docId: string }
  /** Ingest: per reader, updates received and the writer's clock reached. */
  | { readonly type: 'progress'; readonly received: number[]; readonly clocks: number[] }

type Progress = Extract<FromGenerator, { type: 'progress' }>

class Generator {
  private readonly waiting: ((msg: FromGenerator) => void)[] = []
  private readonly exited: Promise<void>
  private failure: string | null = null

  /** Called with every progress report (they answer no request). */
  onProgress: ((msg: Progress) => void) | null = null

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: FromGenerator) => {
      if (msg.type === 'progress') {
        this.onProgress?.(msg)
        return
      }
      if (msg.type === 'failed') this.failure = msg.message
      for (const fn of this.waiting.splice(0)) fn(msg)
    })
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  send(msg: ToGenerator): void {
    if (this.child.connected) this.child.send(msg)
  }

  next(what: string, ms = 120_000): Promise<FromGenerator> {
    const reply = new Promise<FromGenerator>((resolve) => this.waiting.push(resolve))
    const gone = this.exited.then((): FromGenerator => ({ type: 'failed', message: `generator exited during ${what}` }))
    return withTimeout(Promise.race([reply, gone]), ms, `generator ${what}`).then((msg) => {
      if (msg.type === 'failed') throw new Error(this.failure ?? msg.message)
      return msg
    })
  }

  async close(): Promise<void> {
    this.send({ type: 'close' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Every generator this run started, so that an interrupted run leaves none behind. */
const live = new Set<ChildProcess>()

export function killAllGenerators(): void {
  for (const c of live) c.kill('SIGKILL')
  live.clear()
}

/** `count` processes running `entry` (a file in bench/dist/gen), pinned to the generators' cores. */
export class GeneratorPool {
  private constructor(readonly generators: readonly Generator[]) {}

  static async start(entry: string, count: number): Promise<GeneratorPool> {
    const file = path.join(here, '..', 'gen', `${entry}.js`)
    const pin = placement().generators
    // automerge-repo's throttle hands setTimeout a negative wait when a call comes late, which Node
    // reports (and runs at once, as meant) on every such call: a library's warning, not the bench's.
    const node = [process.execPath, '--disable-warning=TimeoutNegativeWarning']
    const generators = Array.from({ length: count }, () => {
      const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', ...pin, ...node, file], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      })
      live.add(child)
      child.once('exit', () => live.delete(child))
      return new Generator(child)
    })
    const pool = new GeneratorPool(generators)
    try {
      await Promise.all(generators.map((g) => g.next('start', 30_000)))
    } catch (err) {
      await pool.close()
      throw err
    }
    return pool
  }

  get size(): number {
    return this.generators.length
  }

  /** Send `msg(i)` to generator i and wait for each one's next reply. */
  async ask(what: string, msg: (i: number) => ToGenerator): Promise<FromGenerator[]> {
    const replies = this.generators.map((g) => g.next(what))
    this.generators.forEach((g, i) => g.send(msg(i)))
    return Promise.all(replies)
  }

  /** `fn(i, report)` for every progress report of generator i. */
  onProgress(fn: (i: number, msg: Progress) => void): void {
    this.generators.forEach((g, i) => (g.onProgress = (msg) => fn(i, msg)))
  }

  /** Send `msg` to generator i alone and wait for its reply. */
  async askOne(i: number, what: string, msg: ToGenerator): Promise<FromGenerator> {
    const g = this.generators[i]
    const reply = g.next(what)
    g.send(msg)
    return reply
  }

  tell(msg: ToGenerator): void {
    for (const g of this.generators) g.send(msg)
  }

  /** CPU meters of every generator process, started now. */
  cpuMeters(): CpuMeter[] {
    return this.generators.map((g) => new CpuMeter(g.pid))
  }

  async close(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.close()))
  }
}

/** What a row says about its generators: the busiest one's CPU, all of them, and whether it is valid. */
export interface GeneratorLoad {
  readonly processes: number
  readonly perProcess: readonly number[]
  readonly max: number
  readonly total: number
  readonly valid: boolean
}

/**
 * Valid when no generator process is above GENERATOR_LIMIT of a core and, together, they leave some of
 * their cores free (several processes on one saturated core queue each other just as one would).
 */
export function generatorLoad(perProcess: readonly number[]): GeneratorLoad {
  const max = Math.max(...perProcess)
  const total = perProcess.reduce((a, b) => a + b, 0)
  const valid = !(max > GENERATOR_LIMIT) && !(total > GENERATOR_LIMIT * placement().generatorCores)
  return { processes: perProcess.length, perProcess, max, total, valid }
}

/** One phrase for a row's note: generator processes, their CPU, and where everything ran. */
export function describeLoad(load: GeneratorLoad): string {
  const cpus = load.perProcess.map((c) => c.toFixed(2)).join(' / ')
  const verdict = load.valid ? '' : `; INVALID (generators above ${GENERATOR_LIMIT} of a core each or of their ${placement().generatorCores}): no ratio`
  return `${load.processes} generator process${load.processes === 1 ? '' : 'es'} at ${cpus} cores; ${placement().description}${verdict}`
}

/**
 * A row whose clients ran in the bench process itself (one generator): its CPU decides, as for the
 * generator processes, whether the row is a measurement of the server.
 */
export function withBenchGenerator<R extends { readonly note: string; readonly status: string; readonly noRatio?: boolean; readonly invalid?: boolean }>(row: R, benchCores: number): R {
  if (row.status !== 'ok' || !Number.isFinite(benchCores)) return row
  const load = generatorLoad([benchCores])
  const verdict = load.valid ? '' : `; INVALID (the generator above ${GENERATOR_LIMIT} of a core): no ratio`
  const note = `${row.note}; clients in the bench process at ${benchCores.toFixed(2)} cores; ${placement().description}${verdict}`
  return load.valid ? { ...row, note } : { ...row, note, noRatio: true, invalid: true }
}

/** A row measured with `load` (processes; the bench process first where it is one): its note and validity. */
export function withGenerators<R extends { readonly note: string; readonly status: string; readonly noRatio?: boolean; readonly invalid?: boolean }>(row: R, load: GeneratorLoad): R {
  if (row.status !== 'ok') return row
  const note = `${row.note}; ${describeLoad(load)}`
  return load.valid ? { ...row, note } : { ...row, note, noRatio: true, invalid: true }
}
