/**
 * Client failover on real node processes: an SDK client given every node's URL is on a node that is
 * killed with SIGKILL; it keeps editing offline, moves to a live node, and sends its unacknowledged
 * edits there. Every edit of every client ends on every live replica exactly once, and every edit is
 * acknowledged to its client exactly once. And an update a node already holds, sent to it again with
 * W = 2 (what a client that moved does with edits its dead node took but never acknowledged), is
 * acknowledged again without changing the doc.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MessageType } from '../../shared/dist/index.js'
import { MemoryStore, type MurmurClient, type YjsHandle } from '../../client/dist/index.js'
import { spawnNode, tempDir, type NodeProcess } from '../support/servers.js'
import { freePort } from '../support/ports.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { SECRET } from '../support/cluster.js'
import { eventually, until } from '../support/wait.js'

interface Node {
  readonly name: string
  readonly url: string
  readonly proc: NodeProcess
}

async function startNodes(): Promise<Node[]> {
  const ports = await Promise.all([0, 1, 2].map(() => freePort()))
  return Promise.all(
    ports.map(async (port, i) => {
      const name = `node-${'abc'[i]}`
      const peers = ports.filter((_, j) => j !== i).map((p) => `ws://127.0.0.1:${p}`)
      const proc = await spawnNode([
        '--port', String(port), '--data-dir', tempDir(), '--node-id', name, '--peers', peers.join(','),
        '--cluster-secret', SECRET, '--probe-interval-ms', '200', '--anti-entropy-ms', '300',
      ])
      return { name, url: `http://127.0.0.1:${port}`, proc }
    }),
  )
}

async function docView(node: Node, docId: string): Promise<{ version: string; items: string[] }> {
  const res = await fetch(`${node.url}/v1/docs/yjs/${docId}`)
  expect(res.status).toBe(200)
  const body = (await res.json()) as { version: string; content: { items?: string[] } }
  return { version: body.version, items: body.content.items ?? [] }
}

/**
 * A device's store that counts the local updates acknowledged to it (a merged resend's ack stands for
 * each update in it), each id once, and how many times an id was acknowledged again.
 */
class CountingStore extends MemoryStore {
  readonly acked = new Set<string>()
  repeats = 0

  override async acknowledge(docKey: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (this.acked.has(id)) this.repeats++
      this.acked.add(id)
    }
    await super.acknowledge(docKey, ids)
  }
}

/** The ids in the ack messages the client received. */
function ackMessages(client: MurmurClient): string[] {
  const ids: string[] = []
  client.connection.on('message', (msg) => {
    if (msg.type === MessageType.ack) ids.push(...msg.ids)
  })
  return ids
}

/** Append `n` items, one local change (one update id) each. */
function write(handle: YjsHandle, tag: string, from: number, n: number): string[] {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${from + i}`)
  for (const id of ids) handle.doc.getArray<string>('items').push([id])
  return ids
}

const DOC = 'failover-ledger'

describe('client failover in a 3-node cluster', () => {
  it('a client whose node is killed keeps editing offline, moves to a live node, and nothing is lost or applied twice', async () => {
    const nodes = await startNodes()
    // W = 2: every ack means the edit is durable on two replicas.
    const moverAcks = new CountingStore()
    const mover = sdkClient(nodes[0].url, { urls: nodes.slice(1).map((n) => n.url), replicas: 2, store: moverAcks })
    await until(() => mover.state === 'open', (cb) => mover.on('status', cb), 30_000, 'the client to connect')
    const dead = nodes.find((n) => n.name === mover.nodeId)!
    const live = nodes.filter((n) => n !== dead)
    expect(mover.url.startsWith(dead.url.replace('http', 'ws'))).toBe(true)
    // The other clients each use one live node.
    const otherAcks = live.map(() => new CountingStore())
    const others = live.map((n, i) => sdkClient(n.url, { replicas: 2, store: otherAcks[i] }))
    const handles = [mover, ...others].map((c) => c.yjs(DOC))
    await Promise.all(handles.map((h) => untilSynced(h)))

    const written: string[][] = [[], [], []]
    handles.forEach((h, i) => written[i].push(...write(h, `c${i}`, 0, 20)))
    await Promise.all(handles.map((h) => untilSaved(h)))
    const ackedBefore = moverAcks.acked.size
    expect(ackedBefore).toBe(20)

    // Edits in flight when the node dies, then edits while the client has no node.
    written[0].push(...write(handles[0], 'c0', 20, 10))
    await dead.proc.kill('SIGKILL')
    await until(() => mover.state !== 'open', (cb) => mover.on('status', cb), 30_000, 'the client to notice')
    written[0].push(...write(handles[0], 'c0', 30, 10))
    expect(handles[0].unsavedCount).toBeGreaterThan(0)
    handles.slice(1).forEach((h, i) => written[i + 1].push(...write(h, `c${i + 1}`, 20, 10)))

    // The client moves to a live node and every edit is acknowledged there.
    const moved: string[] = []
    mover.on('status', (state, detail) => {
      if (state === 'open') moved.push(`${detail.nodeId} ${detail.url}`)
    })
    await until(() => mover.state === 'open' && mover.nodeId !== dead.name, (cb) => mover.on('status', cb), 30_000, 'the client to move to a live node')
    expect(live.map((n) => n.name)).toContain(mover.nodeId)
    const on = live.find((n) => n.name === mover.nodeId)!
    expect(moved.at(-1)).toBe(`${on.name} ${on.url.replace('http', 'ws')}/sync`)
    await Promise.all(handles.map((h) => untilSaved(h)))

    // Every edit acknowledged to its client, each once: 20 before, all 40 after.
    expect(moverAcks.acked.size).toBe(ackedBefore + 20)
    expect(otherAcks.map((a) => a.acked.size)).toEqual([30, 30])
    expect([moverAcks.repeats, ...otherAcks.map((a) => a.repeats)]).toEqual([0, 0, 0])

    // Every edit of every client on every live replica, exactly once, at one version.
    const all = written.flat().sort()
    await eventually(
      async () => {
        const views = await Promise.all(live.map((n) => docView(n, DOC)))
        return views.every((v) => v.items.length === all.length && v.version === views[0].version)
      },
      30_000,
      'the live replicas to converge',
    ).catch(() => undefined)
    for (const n of live) expect([...(await docView(n, DOC)).items].sort()).toEqual(all)
    for (const h of handles) expect([...h.doc.getArray<string>('items').toArray()].sort()).toEqual(all)
  }, 120_000)

  it('an update a node already holds, sent again with W = 2, is acknowledged again and changes nothing', async () => {
    const nodes = await startNodes()
    const writer = sdkClient(nodes[0].url, { replicas: 2 })
    const h = writer.yjs('resent')
    await untilSynced(h)
    write(h, 'w', 0, 5)
    await untilSaved(h)
    const update = Y.encodeStateAsUpdate(h.doc)
    await eventually(
      async () => {
        const views = await Promise.all(nodes.map((n) => docView(n, 'resent')))
        return views.every((v) => v.items.length === 5 && v.version === views[0].version)
      },
      30_000,
      'every replica to hold the writes',
    )
    const before = await docView(nodes[1], 'resent')
    // A client that moved: its outbox still holds edits the replicas already have.
    const store = new MemoryStore()
    await store.appendLocal('yjs:resent', { id: 'moved-1', update })
    const mover = sdkClient(nodes[1].url, { store, replicas: 2 })
    const acks = ackMessages(mover)
    const again = mover.yjs('resent')
    await again.whenLoaded()
    expect(again.unsavedCount).toBe(1)
    await untilSaved(again)
    expect(acks).toEqual(['moved-1'])
    const after = await Promise.all(nodes.map((n) => docView(n, 'resent')))
    for (const v of after) expect(v).toEqual(before)
  }, 60_000)
})
