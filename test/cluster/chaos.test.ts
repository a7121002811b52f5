import { describe, expect, it } from 'vitest'
import type { YjsHandle } from '../../client/dist/index.js'
import { spawnNode, tempDir, type NodeProcess } from '../support/servers.js'
import { freePort } from '../support/ports.js'
import { TcpProxy } from '../support/tcp-proxy.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { AckedSet } from '../support/jepsen.js'
import { SECRET } from '../support/cluster.js'
import { eventually, until } from '../support/wait.js'

interface Node {
  name: string
  port: number
  proxy: TcpProxy
  dataDir: string
  proc: NodeProcess
}

const DOCS = ['ledger-1', 'ledger-2', 'ledger-3']

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

async function docItems(port: number, docId: string): Promise<{ version: string; items: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/docs/yjs/${docId}`)
  expect(res.status).toBe(200)
  const body = (await res.json()) as { version: string; content: { items?: string[] } }
  return { version: body.version, items: body.content.items ?? [] }
}

/** Each writer appends unique ids in small batches and records them as acknowledged once saved. */
async function writeLoop(handle: YjsHandle, tag: string, set: AckedSet, stop: { done: boolean }): Promise<void> {
  let k = 0
  while (!stop.done) {
    const batch = Array.from({ length: 5 }, () => `${tag}-${k++}`)
    batch.forEach((id) => set.attempt(id))
    handle.doc.getArray<string>('items').push(batch)
    try {
      await untilSaved(handle, 30_000)
    } catch {
      continue // not acknowledged (yet): not counted; it stays in the outbox and is re-sent
    }
    batch.forEach((id) => set.ack(id))
  }
}

describe('chaos: kill -9 and cut links while clients write through every node', () => {
  it('every acknowledged update ends on every replica, and replicas hold equal versions', async () => {
    const nodes = await startNodes()
    // One set per doc: a doc's replicas must hold that doc's acknowledged ids.
    const sets = new Map(DOCS.map((d) => [d, new AckedSet()]))
    const total = () => [...sets.values()].reduce((n, s) => n + s.ackedCount, 0)
    const stop = { done: false }
    const writers: Promise<void>[] = []
    for (const [i, node] of nodes.entries()) {
      const client = sdkClient(`http://127.0.0.1:${node.port}`, { backoffInitialMs: 50, backoffMaxMs: 500 })
      for (const docId of DOCS) {
        const h = client.yjs(docId)
        await untilSynced(h)
        writers.push(writeLoop(h, `${node.name}/${docId}/${i}`, sets.get(docId)!, stop))
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
    for (const docId of DOCS) {
      const set = sets.get(docId)!
      const converged = async () => {
        const views = await Promise.all(nodes.map((n) => docItems(n.port, docId)))
        const complete = views.every((v, i) => set.check(nodes[i].name, v.items) === null)
        return complete && views.every((v) => v.version === views[0].version)
      }
      await eventually(converged, 30_000, `${docId} to converge`).catch(() => undefined)
      const views = await Promise.all(nodes.map((n) => docItems(n.port, docId)))
      for (const [i, v] of views.entries()) set.expectOn(`${nodes[i].name}:${docId}`, v.items)
      expect(new Set(views.map((v) => v.version)).size).toBe(1)
    }
    expect(total()).toBeGreaterThan(1000)
    if (process.env.CHAOS_REPORT) {
      for (const n of nodes) console.log(n.name, JSON.stringify(await (await fetch(`http://127.0.0.1:${n.port}/v1/cluster`)).json()))
    }
  })
})
