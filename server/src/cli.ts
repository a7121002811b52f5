#!/usr/bin/env node
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import { ConfigError } from './config.js'
import { loadConfig } from './config-load.js'
import { startServer } from './app.js'
import { setTracedNode } from './tracing/tracing.js'
import { TracingConfigError, startTracing, type Tracing } from './tracing/setup.js'
import { AuthConfigError } from './auth/auth.js'
import { BACKUP_USAGE, runBackupCommand } from './backup/commands.js'
import { StartupError, firstLine } from './startup-error.js'
import { SERVE_USAGE, USAGE, banner, version } from './cli/usage.js'

const HELP = new Set(['--help', '-h', 'help'])

/** The one line a failed start prints: the operator's mistakes as they are, anything else as "cannot start". */
function failureLine(err: unknown): string {
  if (err instanceof ConfigError || err instanceof AuthConfigError || err instanceof StartupError) return `murmur: ${firstLine(err)}`
  return `murmur: cannot start: ${firstLine(err)} (--log-level debug shows the stack)`
}

function fail(err: unknown, debug: boolean): number {
  process.stderr.write(failureLine(err) + '\n')
  if (debug && err instanceof Error && err.stack !== undefined) process.stderr.write(err.stack + '\n')
  return err instanceof ConfigError ? 2 : 1
}

/** Whether the command line (or the environment) asks for debug logs: then failures print their stack too. */
function wantsDebug(argv: readonly string[]): boolean {
  const i = argv.findIndex((a) => a === '--log-level' || a.startsWith('--log-level='))
  const level = i < 0 ? process.env.MURMUR_LOG_LEVEL : argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1]
  return level === 'debug' || level === 'trace'
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) {
    process.stderr.write(USAGE)
    return 2
  }
  if (HELP.has(command)) {
    process.stdout.write(USAGE)
    return 0
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`murmur ${version()}\n`)
    return 0
  }
  if (command === 'backup' || command === 'restore') {
    if (rest.some((a) => HELP.has(a))) {
      process.stdout.write(BACKUP_USAGE)
      return 0
    }
    return runBackupCommand(command, rest)
  }
  if (command !== 'serve') {
    process.stderr.write(`murmur: unknown command "${command}"; run "murmur --help" for the commands\n`)
    return 2
  }
  if (rest.some((a) => HELP.has(a))) {
    process.stdout.write(SERVE_USAGE)
    return 0
  }
  const debug = wantsDebug(rest)
  let config
  try {
    config = loadConfig(rest)
  } catch (err) {
    return fail(err, debug)
  }
  if (config.staticDir === null) {
    // From a checkout, serve the built demo app next to the server package.
    const here = path.dirname(fileURLToPath(import.meta.url))
    const demo = path.resolve(here, '../../demo-app/dist')
    if (existsSync(demo)) config.staticDir = demo
  }
  let tracing: Tracing | null
  try {
    // Before the node starts, so its first update is traced; only the standard OTEL_* variables set it up.
    tracing = startTracing()
  } catch (err) {
    if (err instanceof TracingConfigError) {
      process.stderr.write(`murmur: ${err.message}\n`)
      return 2
    }
    throw err
  }
  let server
  try {
    server = await startServer(config)
  } catch (err) {
    return fail(err, debug)
  }
  const url = server.url
  setTracedNode(server.nodeId)
  process.stdout.write(
    banner({
      nodeId: server.nodeId,
      url,
      storage: server.storage.description,
      auth: server.auth.description,
      demo: config.staticDir !== null ? url + '/' : null,
      tracing: tracing?.description ?? 'off (set OTEL_TRACES_EXPORTER=otlp to send traces)',
      hocuspocusPath: config.hocuspocusPath === '' ? null : config.hocuspocusPath,
    }),
  )
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    server.log.info({ signal }, 'shutting down')
    server
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          server.log.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  return -1
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err: unknown) => {
    process.exit(fail(err, wantsDebug(process.argv)))
  },
)
