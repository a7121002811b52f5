import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import { Encoder, decode } from 'cbor-x'
import { MemoryStore } from '../../client/dist/index.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { startNodeProcesses, untilLinked, type ClusterNode } from '../support/node-processes.js'
import { eventually, until, within } from '../support/wait.js'

const DOC = '/v1/docs/yjs/doomed'
/** An Automerge doc deleted with it, which an automerge-repo client still holds. */
const BOARD = '/v1/docs/automerge/doomed-board'

async function status(node: ClusterNode, doc = DOC): Promise<number> {
  return (await fetch(`${node.url}${doc}`)).status
}

/** Every node answers the docs' HTTP reads with 410 MUR_ERR_DOC_DELETED. */
async function expectDeletedEverywhere(nodes: readonly ClusterNode[]): Promise<void> {
  for (const node of nodes) {
    for (const doc of [DOC, BOARD]) {
      const res = await fetch(`${node.url}${doc}`)
      expect(res.status, `${doc} on ${node.name}`).toBe(410)
      expect(((await res.json()) as { code: string }).code).toBe('MUR_ERR_DOC_DELETED')
    }
  }
}

const cbor = new Encoder({ tagUint8Array: false, useRecords: false })

/**
 * An automerge-repo client (its wire protocol: CBOR join, then sync) that holds the old board and syncs
 * it on connect: the node answers with an error naming MUR_ERR_DOC_DELETED and closes with 4410.
 */
async function automergeRefusal(node: ClusterNode, old: Uint8Array): Promise<{ code: number; error: string }> {
  const ws = new WebSocket(`${node.url.replace(/^http/u, 'ws')}/automerge`)
  ws.on('error', () => undefined)
  const errors: string[] = []
  ws.on('message', (data: Buffer) => {
    const msg = decode(data) as { type: string; message?: string; senderId?: string }
    if (msg.type === 'peer') {
      const [, sync] = A.generateSyncMessage(A.load(old), A.initSyncState())
      ws.send(cbor.encode({ type: 'sync', senderId: 'old-peer', targetId: msg.senderId, documentId: 'doomed-board', data: sync }))
    }
    if (msg.type === 'error') errors.push(msg.message ?? '')
  })
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  ws.once('open', () => ws.send(cbor.encode({ type: 'join', senderId: 'old-peer', peerMetadata: { isEphemeral: true }, supportedProtocolVersions: ['1'] })))
  const code = await within(closed, 10_000, `the automerge-repo socket on ${node.name} to close`)
  return { code, error: errors.join() }
}

/** A y-websocket client that holds the old doc and pushes it on connect: the node closes with 4410. */
async function yjsCloseCode(node: ClusterNode, old: Y.Doc): Promise<number> {
  const ws = new WebSocket(`${node.url.replace(/^http/u, 'ws')}/yjs/doomed`)
  ws.on('error', () => undefined)
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  ws.once('open', () => {
    // y-websocket's messageSync (0) with an update (2) carrying the whole old state.
    const update = Y.encodeStateAsUpdate(old)
    const frame = new Uint8Array([0, 2, ...varUint(update.length), ...update])
    ws.send(frame)
  })
  return within(closed, 10_000, `the y-websocket socket on ${node.name} to close`)
}

function varUint(n: number): number[] {
  const out: number[] = []
  while (n > 127) {
    out.push((n & 127) | 128)
    n >>>= 7
  }
  out.push(n)
  return out
}

/** The number of anti-entropy rounds a node has completed. */
async function roundsDone(node: ClusterNode): Promise<number> {
  return (await node.cluster()).antiEntropy.completed
}

describe('cluster: a delete reaches every replica and nothing brings the doc back', () => {
  it('delete while a replica is down, restart the deleting node, bring the replica back with its old data: deleted everywhere', async () => {
    const [a, b, c] = await startNodeProcesses(3)
    await untilLinked([a, b, c])
    // A client writes the doc through A and keeps it in its local store (it will come back with it).
    const store = new MemoryStore()
    const writer = sdkClient(a.url, { store })
    const h = writer.yjs('doomed')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'old content')
    await untilSaved(h)
    const old = new Y.Doc()
    Y.applyUpdate(old, Y.encodeStateAsUpdate(h.doc))
    const board = writer.automerge<{ title?: string }>('doomed-board')
    await untilSynced(board)
    board.change((d) => {
      d.title = 'old board'
    })
    await untilSaved(board)
    for (const node of [a, b, c]) {
      await eventually(async () => {
        const res = await fetch(`${node.url}${DOC}`)
        const am = await fetch(`${node.url}${BOARD}`)
        return (
          res.status === 200 &&
          ((await res.json()) as { content: { t?: string } }).content.t === 'old content' &&
          am.status === 200 &&
          ((await am.json()) as { content: { title?: string } }).content.title === 'old board'
        )
      }, 20_000, `the docs on ${node.name}`)
    }
    const oldBoard = new Uint8Array(await (await fetch(`${a.url}${BOARD}/state`)).arrayBuffer())
    writer.close()

    // C goes down holding the doc; the doc is deleted through A; A restarts (its memory is gone).
    await c.kill()
    expect((await fetch(`${a.url}${DOC}`, { method: 'DELETE' })).status).toBe(200)
    expect((await fetch(`${a.url}${BOARD}`, { method: 'DELETE' })).status).toBe(200)
    await eventually(async () => (await status(b)) === 410 && (await status(b, BOARD)) === 410, 10_000, 'the deletes on B')
    await a.kill()
    await a.start()
    await untilLinked([a, b])
    await expectDeletedEverywhere([a, b])

    // C comes back with its old data: the tombstone beats its content, and A and B never serve it again.
    await c.start()
    await eventually(async () => {
      for (const doc of [DOC, BOARD]) {
        expect(await status(a, doc)).toBe(410)
        expect(await status(b, doc)).toBe(410)
      }
      return (await status(c)) === 410 && (await status(c, BOARD)) === 410
    }, 30_000, 'the tombstones on C')
    await untilLinked([a, b, c])
    // A few more rounds of anti-entropy everywhere: still deleted on every node.
    const before = await Promise.all([a, b, c].map(roundsDone))
    await eventually(async () => (await Promise.all([a, b, c].map(roundsDone))).every((n, i) => n >= before[i] + 3), 30_000, 'three more rounds on every node')
    await expectDeletedEverywhere([a, b, c])

    // The sync endpoints refuse it on every node, even to a client pushing the old state.
    for (const node of [a, b, c]) {
      expect(await yjsCloseCode(node, old)).toBe(4410)
      const refused = await automergeRefusal(node, oldBoard)
      expect(refused.code).toBe(4410)
      expect(refused.error).toContain('MUR_ERR_DOC_DELETED')
    }

    // The client that held the doc comes back (to C, which was down during the delete) with its old state.
    const returning = sdkClient(c.url, { store })
    const back = returning.yjs('doomed')
    await back.whenLoaded()
    expect(back.doc.getText('t').toString()).toBe('old content')
    const errors: string[] = []
    back.on('error', (e) => errors.push(e.code))
    await until(() => errors.includes('MUR_ERR_DOC_DELETED'), (cb) => back.on('error', cb), 20_000, 'the returning client to hear of the deletion')
    for (const node of [a, b]) {
      const fresh = sdkClient(node.url).yjs('doomed')
      const seen: string[] = []
      fresh.on('error', (e) => seen.push(e.code))
      await until(() => seen.includes('MUR_ERR_DOC_DELETED'), (cb) => fresh.on('error', cb), 20_000, `an SDK client on ${node.name} to be refused`)
    }
    await expectDeletedEverywhere([a, b, c])
  }, 300_000)
})
