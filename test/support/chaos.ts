import { expect } from 'vitest'
import type { AutomergeHandle, DocHandle, YjsHandle } from '../../client/dist/index.js'
import { spawnNode, tempDir, type NodeProcess } from './servers.js'
import { freePort } from './ports.js'
import { TcpProxy } from './tcp-proxy.js'
import { sdkClient, untilSaved, untilSynced } from './sdk.js'
import { AckedSet } from './jepsen.js'
import { SECRET } from './cluster.js'
import { eventually, until } from './wait.js'

/**
 * The chaos scenario on real node processes: three nodes, each behind a fault-injecting proxy that the
 * other nodes' links go through; SDK clients write unique ids to every doc through every node while
 * links are blackholed, delayed and reset and a node is killed with SIGKILL and restarted. Afterwards an
 * acknowledged-set checker requires every acknowledged id on every replica, at equal versions.
 */
interface Node {
  name: string
  port: number
  proxy: TcpProxy
  dataDir: string
  proc: NodeProcess
}

interface Ledger {
  items?: string[]
}

/** A doc the chaos clients write to. */
export interface DocSpec {
  readonly engine: 'yjs' | 'automerge'
  readonly id: string
}
const keyOf = (d: DocSpec): string => `${d.engine}/${d.id}`

/**
 * Real node processes on loopback. Every node advertises a fault-injecting proxy in front of itself,
 * so the links other nodes open to it can be blackholed, delayed or reset.
 */
async function startNodes(): Promise<Node[]> {
  const ports = await Promise.all([0, 1, 2].map(() => freePort()))
  const proxies = await Promise.all(ports.map((p) => TcpProxy.start(p)))
  const nodes: Node[] = []
  for (let i = 0; i < 3; i++) {
    const name = `node-${'abc'[i]}`
    const dataDir = tempDir()
    nodes.push({ name, port: ports[i], proxy: proxies[i], dataDir, proc: await spawn(name, ports[i], proxies, i, dataDir) })
  }
  return nodes
}

function spawn(name: string, port: number, proxies: TcpProxy[], i: number, dataDir: string): Promise<NodeProcess> {
  const peers = proxies.filter((_, j) => j !== i).map((p) => `ws://127.0.0.1:${p.port}`)
  return spawnNode([
    '--port', String(port), '--data-dir', dataDir, '--node-id', name,
    '--advertise-url', `ws://127.0.0.1:${proxies[i].port}`, '--peers', peers.join(','), '--cluster-secret', SECRET,
    '--probe-interval-ms', '200', '--anti-entropy-ms', '300',
  ])
}

async function docItems(port: number, doc: DocSpec): Promise<{ version: string; items: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/docs/${doc.engine}/${doc.id}`)
  expect(res.status).toBe(200)
  const body = (await res.json()) as { version: string; content: { items?: string[] } }
  return { version: body.version, items: body.content.items ?? [] }
}

/** Append ids to the doc's `items` list, in whichever engine the handle speaks. */
function append(handle: DocHandle, ids: string[]): void {
  if (handle.engineName === 'yjs') (handle as YjsHandle).doc.getArray<string>('items').push(ids)
  else (handle as AutomergeHandle<Ledger>).change((d) => d.items!.push(...ids))
}

/** Each writer appends unique ids in small batches and records them as acknowledged once saved. */
async function writeLoop(handle: DocHandle, tag: string, set: AckedSet, stop: { done: boolean }): Promise<void> {
  let k = 0
  while (!stop.done) {
    const batch = Array.from({ length: 5 }, () => `${tag}-${k++}`)
    batch.forEach((id) => set.attempt(id))
    append(handle, batch)
    try {
      await untilSaved(handle, 30_000)
    } catch {
      continue // not acknowledged (yet): not counted; it stays in the outbox and is re-sent
    }
    batch.forEach((id) => set.ack(id))
  }
}

/**
 * Run the scenario over `docs` (Yjs and Automerge docs alike). `convergeMs` bounds the wait, after the
 * heal, for every doc to hold every acknowledged id on every node at equal versions.
 */
export async function runChaos(docs: readonly DocSpec[], convergeMs = 30_000): Promise<void> {
  const nodes = await startNodes()
  // An Automerge list must be created once: two replicas that each created it would keep only one.
  const founder = sdkClient(`http://127.0.0.1:${nodes[0].port}`)
  for (const d of docs.filter((x) => x.engine === 'automerge')) {
    const h = founder.automerge<Ledger>(d.id)
    await untilSynced(h)
    h.change((doc) => {
      doc.items = []
    })
    await untilSaved(h)
  }
  await founder.close()

  const sets = new Map(docs.map((d) => [keyOf(d), new AckedSet()]))
  const total = () => [...sets.values()].reduce((n, s) => n + s.ackedCount, 0)
  const stop = { done: false }
  const writers: Promise<void>[] = []
  for (const [i, node] of nodes.entries()) {
    const client = sdkClient(`http://127.0.0.1:${node.port}`, { backoffInitialMs: 50, backoffMaxMs: 500 })
    for (const d of docs) {
      let h: DocHandle
      if (d.engine === 'yjs') h = client.yjs(d.id)
      else {
        const am = client.automerge<Ledger>(d.id)
        await until(() => Array.isArray(am.doc().items), (cb) => am.on('change', cb), 30_000, `${d.id} created on ${node.name}`)
        h = am
      }
      await untilSynced(h)
      writers.push(writeLoop(h, `${node.name}/${d.id}/${i}`, sets.get(keyOf(d))!, stop))
    }
  }
  const progress = (n: number) => {
    const target = total() + n
    return until(() => total() >= target, (cb) => {
      const offs = [...sets.values()].map((s) => s.onAck(cb))
      return () => offs.forEach((off) => off())
    }, 60_000, `${n} more acks`)
  }

  await progress(200)
  // Blackhole node-a's inbound links, reset node-c's, delay node-b's.
  nodes[0].proxy.mode = { kind: 'blackhole' }
  nodes[2].proxy.reset()
  nodes[1].proxy.mode = { kind: 'delay', ms: 150 }
  await progress(300)
  // kill -9 node-b mid-stream, restart it on the same port and data.
  await nodes[1].proc.kill('SIGKILL')
  await progress(200)
  nodes[1].proc = await spawn(nodes[1].name, nodes[1].port, nodes.map((n) => n.proxy), 1, nodes[1].dataDir)
  nodes[0].proxy.mode = { kind: 'pass' }
  nodes[1].proxy.mode = { kind: 'pass' }
  await progress(300)
  nodes[2].proxy.reset()
  await progress(200)
  stop.done = true
  await Promise.all(writers)

  // Heal: every node ends holding every acknowledged id of every doc, at equal versions.
  for (const d of docs) {
    const set = sets.get(keyOf(d))!
    const converged = async () => {
      const views = await Promise.all(nodes.map((n) => docItems(n.port, d)))
      const complete = views.every((v, i) => set.check(nodes[i].name, v.items) === null)
      return complete && views.every((v) => v.version === views[0].version)
    }
    await eventually(converged, convergeMs, `${keyOf(d)} to converge`).catch(() => undefined)
    const views = await Promise.all(nodes.map((n) => docItems(n.port, d)))
    for (const [i, v] of views.entries()) set.expectOn(`${nodes[i].name}:${keyOf(d)}`, v.items)
    expect(new Set(views.map((v) => v.version)).size).toBe(1)
  }
  expect(total()).toBeGreaterThan(1000)
  // Automerge docs took their share of the acknowledged writes.
  for (const d of docs) expect(sets.get(keyOf(d))!.ackedCount).toBeGreaterThan(100)
}
