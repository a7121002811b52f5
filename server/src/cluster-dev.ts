#!/usr/bin/env node
/**
 * `npm run cluster`: three local nodes on fixed ports (4321, 4322, 4323), each a real `murmur serve`
 * process with its own SQLite folder, seeded with the others. For trying the cluster on one machine.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const here = path.dirname(fileURLToPath(import.meta.url))
const cli = path.join(here, 'cli.js')
const base = Number(process.env.MURMUR_CLUSTER_BASE_PORT ?? 4321)
const secret = process.env.MURMUR_CLUSTER_SECRET ?? 'murmur-dev-cluster-secret'
const names = ['a', 'b', 'c']
const ports = names.map((_, i) => base + i)

if (process.env.MURMUR_CLUSTER_SECRET === undefined) {
  process.stdout.write('note: using the built-in development cluster secret; set MURMUR_CLUSTER_SECRET for anything else\n')
}

// Like `npm start`, a development cluster lets clients in without tokens unless auth is configured.
const authConfigured = ['MURMUR_AUTH_SECRET', 'MURMUR_AUTH_PUBLIC_KEY', 'MURMUR_AUTH_JWKS'].some((v) => (process.env[v] ?? '') !== '')
const authArgs = authConfigured ? [] : ['--anonymous']

const children: ChildProcess[] = names.map((name, i) => {
  const peers = ports.filter((_, j) => j !== i).map((p) => `ws://127.0.0.1:${p}`)
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--port', String(ports[i]), '--node-id', `node-${name}`, '--data-dir', path.resolve('.murmur-data', `node-${name}`), '--peers', peers.join(','), '--cluster-secret', secret, ...authArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
  )
  for (const stream of [child.stdout, child.stderr]) {
    if (stream !== null) createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[node-${name}] ${line}\n`))
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`[node-${name}] exited (${signal ?? code})\n`)
  })
  return child
})

const stop = (): void => {
  for (const c of children) c.kill('SIGTERM')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
