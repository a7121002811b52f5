/**
 * Server CPU per update, one update at a time: `node bench/dist/cpu-per-update.js [--nodes 3] [--updates 400]
 * [--servers <checkout>]`. Nodes run as in the fanout scenario (SQLite, each its own process); 21 SDK
 * clients of one doc are spread over them and 3 of them write in turn. Each write waits until every other
 * client has it, so every run makes the same writes in the same batches whatever the machine's load: what
 * changes between runs is the CPU time each write takes, not how many share a commit. The nodes' CPU time
 * (from /proc) over the writes, less what they use idle over the same time, divided by the writes, is the
 * figure; it is also given per thread (main, the SQLite writer, V8's helpers) with the commits per write.
 *
 * `--servers` starts the nodes from another checkout (built), with this checkout's clients: the same
 * clients for both sides of a before/after.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type * as Y from 'yjs'
import { openDocClient, whenSynced, type DocClient } from './lib/doc-clients.js'
import { cpuSeconds } from './lib/proc.js'
import type { ServerProcess } from './lib/server-process.js'
import { allSystems, SystemId } from './lib/systems.js'
import { freePort } from './lib/tcp-proxy.js'
import { sleep } from './lib/timing.js'

const CLIENTS = 21
const WRITERS = 3
const WARMUP_UPDATES = 300

interface ServerProcessModule {
  readonly ServerProcess: { start(launch: { kind: 'murmur'; options: Record<string, unknown> }, port: number, startTimeoutMs: number): Promise<ServerProcess> }
}

/** CPU seconds of every thread of the nodes, by thread (the main thread as "main"). */
function threadSeconds(pids: readonly number[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const pid of pids) {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const name = Number(tid) === pid ? 'main' : comm
        out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100)
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
  }
  return out
}

/** Group commits so far, summed over the nodes (from each node's /metrics). */
async function commits(nodes: readonly ServerProcess[]): Promise<number> {
  let n = 0
  for (const node of nodes) {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text()
    n += Number(/^murmur_storage_commit_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN)
  }
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: '3' }, updates: { type: 'string', default: '400' }, servers: { type: 'string' } } })
  const nodeCount = Number(values.nodes)
  const updates = Number(values.updates)
  const serverDir = values.servers === undefined ? path.resolve(import.meta.dirname, '..', '..') : path.resolve(values.servers)
  const { ServerProcess: Servers } = (await import(path.join(serverDir, 'bench/dist/lib/server-process.js'))) as ServerProcessModule
  const murmur = allSystems().find((s) => s.id === SystemId.murmur)
  if (murmur === undefined) throw new Error('no murmur system')
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'murmur-cpu-'))
  const ports = await Promise.all(Array.from({ length: nodeCount }, () => freePort()))
  const nodes: ServerProcess[] = []
  const clients: DocClient[] = []
  try {
    for (let i = 0; i < nodeCount; i++) {
      const args = ['--data-dir', path.join(work, `n${i}`), '--storage', 'sqlite']
      if (nodeCount > 1) {
        const peers = ports.filter((_, j) => j !== i).map((p) => `ws://127.0.0.1:${p}`)
        args.push('--node-id', `n${i}`, '--peers', peers.join(','), '--cluster-secret', 'bench')
      }
      // A loaded machine can take long to start a node; that is not what is measured.
      nodes.push(await Servers.start({ kind: 'murmur', options: { args } }, ports[i], 180_000))
    }
    await sleep(2000)
    for (let i = 0; i < CLIENTS; i++) {
      const c = openDocClient(murmur, nodes[i % nodeCount].httpUrl, 'cpu')
      await whenSynced(c)
      clients.push(c)
    }
    let waiting = 0
    let arrived: () => void = () => undefined
    for (const c of clients) {
      ;(c.doc.getMap('w') as Y.Map<number>).observe((e) => {
        if (!e.transaction.local && --waiting === 0) arrived()
      })
    }
    const write = (i: number): Promise<void> =>
      new Promise((resolve) => {
        waiting = CLIENTS - 1
        arrived = resolve
        ;(clients[i % WRITERS].doc.getMap('w') as Y.Map<number>).set(String(i % WRITERS), i)
      })
    for (let i = 0; i < WARMUP_UPDATES; i++) await write(i)
    await sleep(1500)
    const pids = nodes.map((n) => n.pid)
    const cpu = (): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
    const idleStart = cpu()
    const idleWallStart = performance.now()
    await sleep(5000)
    const idleCores = (cpu() - idleStart) / ((performance.now() - idleWallStart) / 1000)
    const commits0 = await commits(nodes)
    const threads0 = threadSeconds(pids)
    const cpu0 = cpu()
    const wall0 = performance.now()
    for (let i = 0; i < updates; i++) await write(i)
    await sleep(300)
    const wall = (performance.now() - wall0) / 1000
    const used = cpu() - cpu0
    const threads1 = threadSeconds(pids)
    const perThread: Record<string, number> = {}
    for (const [name, s] of threads1) perThread[name] = round((1000 * (s - (threads0.get(name) ?? 0))) / updates)
    const result = {
      servers: serverDir,
      nodes: nodeCount,
      updates,
      wallSeconds: round(wall),
      idleCores: round(idleCores),
      cpuMsPerUpdate: round((1000 * (used - idleCores * wall)) / updates),
      cpuMsPerUpdateWithIdle: round((1000 * used) / updates),
      commitsPerUpdate: round(((await commits(nodes)) - commits0) / updates),
      cpuMsPerUpdateByThread: perThread,
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await Promise.all(clients.map((c) => c.destroy()))
    await Promise.all(nodes.map((n) => n.stop().catch(() => n.kill())))
    fs.rmSync(work, { recursive: true, force: true })
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
