import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FromChild, ToChild } from '../servers/child.js'
import { placement } from './placement.js'
import { CpuMeter, rssBytes } from './proc.js'

const here = path.dirname(fileURLToPath(import.meta.url))

export type ServerKind = 'murmur' | 'y-websocket' | 'hocuspocus' | 'automerge-repo'

/** What to start: which server entry (bench/dist/servers/<kind>.js) and the options it is given. */
export interface ServerLaunch {
  readonly kind: ServerKind
  readonly options: Readonly<Record<string, unknown>>
  /** Flags for the server's node binary (V8 settings a scenario holds fixed for every system). */
  readonly nodeArgs?: readonly string[]
  /** With `--profile`: the name of this server's .cpuprofile (scenario and system), unique in the run. */
  readonly profileName?: string
}

let profiles = 0

export interface ChildMemory {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
  /** Bytes V8's young generation holds in memory (its size follows the allocation rate, not the load). */
  readonly youngGeneration: number
}

/** Every server this run started, so that an interrupted run leaves none behind. */
const live = new Set<ServerProcess>()

export function killAllServers(): void {
  for (const s of live) s.child.kill('SIGKILL')
  live.clear()
}

/**
 * A server under test in its own process: its CPU and RSS are its own, and the bench's load generator
 * never shares its event loop. The open-file limit is raised to the hard limit in the child, for the
 * idle scenario's 10,000 sockets.
 */
export class ServerProcess {
  private readonly output: string[] = []
  private readonly exited: Promise<number | null>
  private pendingMemory: ((m: ChildMemory) => void)[] = []
  /** With `--profile`: the file name of this server's CPU profile. */
  profileFile: string | null = null

  private constructor(
    readonly launch: ServerLaunch,
    readonly child: ChildProcess,
    readonly port: number,
    readonly description: string,
    output: string[],
    exited: Promise<number | null>,
  ) {
    this.output = output
    this.exited = exited
    child.on('message', (msg: FromChild) => {
      if (msg.type === 'memory') for (const resolve of this.pendingMemory.splice(0)) resolve(msg)
    })
    live.add(this)
  }

  /** Start and wait until it listens (`startTimeoutMs`: a node that reads all its docs first needs longer). */
  static async start(launch: ServerLaunch, port = 0, startTimeoutMs = 30_000): Promise<ServerProcess> {
    const entry = path.join(here, '..', 'servers', `${launch.kind}.js`)
    // `--profile`: Murmur servers write a CPU profile (V8 .cpuprofile, for any profile viewer) when they stop.
    const profileDir = process.env.MURMUR_BENCH_PROFILE_DIR
    const profileName = `${launch.profileName ?? launch.kind}-${String(++profiles).padStart(3, '0')}.cpuprofile`
    const profiled = profileDir !== undefined && launch.kind === 'murmur'
    const profile = profiled ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', profileName] : []
    const child = spawn(
      '/bin/sh',
      // Pinned to the servers' cores where the machine allows (see placement.ts).
      ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', ...placement().server, process.execPath, '--expose-gc', ...(launch.nodeArgs ?? []), ...profile, entry, JSON.stringify({ ...launch.options, port })],
      { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    )
    const output: string[] = []
    const keep = (chunk: Buffer): void => {
      output.push(chunk.toString('utf8'))
      if (output.length > 50) output.shift()
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const first = await new Promise<FromChild>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${launch.kind} did not start within ${startTimeoutMs / 1000} s: ${output.join('')}`)), startTimeoutMs)
      child.once('message', (msg: FromChild) => {
        clearTimeout(timer)
        resolve(msg)
      })
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`${launch.kind} exited with ${code} before listening: ${output.join('').slice(-2000)}`))
      })
    })
    if (first.type !== 'listening') {
      child.kill('SIGKILL')
      throw new Error(`${launch.kind} failed to start: ${first.type === 'failed' ? first.message : first.type}`)
    }
    const server = new ServerProcess(launch, child, first.port, first.description, output, exited)
    server.profileFile = profiled ? profileName : null
    return server
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`
  }

  /** RSS now (no GC first). */
  rss(): number {
    return rssBytes(this.pid)
  }

  cpu(): CpuMeter {
    return new CpuMeter(this.pid)
  }

  /** Memory as the process sees it, after a full GC in the process. */
  memory(): Promise<ChildMemory> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no memory report within 30 s')), 30_000)
      this.pendingMemory.push((m) => {
        clearTimeout(timer)
        resolve(m)
      })
      this.send({ type: 'memory' })
    })
  }

  private send(msg: ToChild): void {
    if (this.child.connected) this.child.send(msg)
  }

  /** Last lines the server printed (for error reports). */
  recentOutput(): string {
    return this.output.join('').slice(-2000)
  }

  /** Graceful stop (the server's own close), SIGKILL if that takes over `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      live.delete(this)
      return
    }
    this.send({ type: 'stop' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
    live.delete(this)
  }

  /** kill -9. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL')
    await this.exited
    live.delete(this)
  }

  /** Stop gracefully, then start the same server on the same port and data. */
  async restart(): Promise<ServerProcess> {
    await this.stop()
    return ServerProcess.start(this.launch, this.port)
  }
}
