#!/usr/bin/env node
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import { ConfigError, SETTINGS, loadConfig } from './config.js'
import { startServer } from './app.js'
import { setTracedNode } from './tracing/tracing.js'
import { TracingConfigError, startTracing, type Tracing } from './tracing/setup.js'
import { AuthConfigError } from './auth/auth.js'

const USAGE = `usage: murmur serve [flags]

Flags (each also read from its environment variable):
${SETTINGS.map((s) => `  --${s.flag.padEnd(24)} ${s.env.padEnd(30)} ${s.help}`).join('\n')}
`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command !== 'serve') {
    process.stderr.write(`murmur: unknown command "${command}"\n\n${USAGE}`)
    return 2
  }
  let config
  try {
    config = loadConfig(rest)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`murmur: ${err.message}\n\n${USAGE}`)
      return 2
    }
    throw err
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
    if (err instanceof ConfigError || err instanceof AuthConfigError) {
      process.stderr.write(`murmur: ${err.message}\n`)
      return 2
    }
    throw err
  }
  const url = server.url
  setTracedNode(config.nodeId ?? url.replace('http://', ''))
  process.stdout.write(
    `Murmur node ${JSON.stringify(config.nodeId ?? url.replace("http://", ""))} listening on ${url}\n` +
      `  storage: ${server.storage.description}\n` +
      `  auth: ${server.auth.description}\n` +
      `  tracing: ${tracing?.description ?? 'off (set OTEL_TRACES_EXPORTER=otlp to send traces)'}\n` +
      `  demo app: ${config.staticDir !== null ? url + '/' : '(not built: npm run build)'}\n` +
      `  endpoints: ${url.replace('http', 'ws')}/sync (Murmur SDK), ${url.replace('http', 'ws')}/yjs/<doc> (y-websocket)\n`,
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
    process.stderr.write(`murmur: failed to start: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
