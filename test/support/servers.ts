import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { onTestFinished } from 'vitest'
import { startServer, type MurmurServer, type ServerConfig, type ServerDeps } from '../../server/dist/index.js'
import { within } from './wait.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

/** A temp folder removed when the test finishes. */
export function tempDir(prefix = 'murmur-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** True when a config (or a command line) sets up token auth. */
const AUTH_KEYS = ['authSecret', 'authPublicKey', 'authJwks'] as const
const AUTH_FLAGS = ['--auth-secret', '--auth-public-key', '--auth-jwks', '--anonymous']

/**
 * An in-process server on a free loopback port, closed when the test finishes. Anonymous (every client
 * may read and write) unless the test configures token auth.
 */
export async function startTestServer(overrides: Partial<ServerConfig> = {}, deps: ServerDeps = {}): Promise<MurmurServer> {
  const anonymous = !AUTH_KEYS.some((k) => overrides[k] != null)
  const server = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', storage: 'memory', anonymous, ...overrides }, deps)
  onTestFinished(() => server.close())
  return server
}

export interface NodeProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly port: number
  /** Lines the process printed (stdout and stderr). */
  readonly output: string[]
  kill(signal?: NodeJS.Signals): Promise<void>
}

/**
 * A real `murmur serve` process (for kill -9 tests). Resolves once it printed its URL; killed when the
 * test finishes. Anonymous unless `args` set up auth.
 */
export async function spawnNode(args: string[], env: Record<string, string> = {}): Promise<NodeProcess> {
  const auth = args.some((a) => AUTH_FLAGS.includes(a.split('=')[0])) ? [] : ['--anonymous']
  const child = spawn(process.execPath, [path.join(repoRoot, 'server/dist/cli.js'), 'serve', '--host', '127.0.0.1', '--log-level', 'warn', ...auth, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  onTestFinished(() => kill())
  createInterface({ input: child.stderr! }).on('line', (l) => output.push(l))
  const url = await within(
    new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        output.push(line)
        const m = /listening on (http:\/\/\S+)/u.exec(line)
        if (m) resolve(m[1])
      })
      child.once('exit', (code) => reject(new Error(`node exited with ${code} before listening:\n${output.join('\n')}`)))
    }),
    30_000,
    'the node to listen',
  )
  return { child, url, port: Number(new URL(url).port), output, kill }
}

export function wsUrl(httpUrl: string, pathname: string): string {
  return httpUrl.replace(/^http/u, 'ws') + pathname
}
