import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { MurmurServer } from '../../server/dist/index.js'
import { PeerMessageType } from '../../server/dist/cluster/peer-protocol.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'

/** Frames and bytes of doc updates a node has sent over its peer links so far. */
function pushesSent(node: MurmurServer): { frames: number; bytes: number } {
  const sent = node.cluster?.links.sent
  return { frames: sent?.frames[PeerMessageType.docUpdate] ?? 0, bytes: sent?.bytes[PeerMessageType.docUpdate] ?? 0 }
}

/** One update this big crosses a link in a frame of at most this much more (type, doc, request id). */
const FRAME_OVERHEAD = 64

describe('cluster: a replicated update crosses each peer link once', () => {
  it('W = 3 through /sync: one push per other replica carries the request for its ack', async () => {
    // Anti-entropy off: its repairs would add frames of their own.
    const nodes = await startCluster(3, { antiEntropyMs: 600_000 })
    await untilMeshed(nodes)
    const h = sdkClient(nodes[0].url, { replicas: 3 }).yjs('counted')
    await untilSynced(h)
    const updates: number[] = []
    h.doc.on('update', (u: Uint8Array) => updates.push(u.length))
    const before = pushesSent(nodes[0])
    const writes = 10
    for (let i = 0; i < writes; i++) {
      h.doc.getText('t').insert(0, `${i}`.padEnd(200, '.'))
      // One update per ack, so every write is one replicated update.
      await untilSaved(h)
    }
    const after = pushesSent(nodes[0])
    const frames = after.frames - before.frames
    const bytes = after.bytes - before.bytes
    // Two other replicas, one frame each per update (it used to be a push and then a second copy to ask for acks).
    expect(frames).toBe(2 * writes)
    const updateBytes = updates.reduce((a, b) => a + b, 0)
    expect(bytes).toBeGreaterThanOrEqual(2 * updateBytes)
    expect(bytes).toBeLessThanOrEqual(2 * (updateBytes + writes * FRAME_OVERHEAD))
  })

  it('W = 3 over HTTP, and a duplicate still asks the replicas (it changed nothing here, so nothing was pushed)', async () => {
    const nodes = await startCluster(3, { antiEntropyMs: 600_000 })
    await untilMeshed(nodes)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'posted'.padEnd(300, '!'))
    const update = Y.encodeStateAsUpdate(doc)
    const post = async (): Promise<{ changed: boolean }> => {
      const res = await fetch(`${nodes[0].url}/v1/docs/yjs/posted/updates?replicas=3`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from(update),
      })
      expect(res.status).toBe(200)
      return (await res.json()) as { changed: boolean }
    }
    const before = pushesSent(nodes[0])
    expect((await post()).changed).toBe(true)
    const first = pushesSent(nodes[0])
    expect(first.frames - before.frames).toBe(2)
    expect(first.bytes - before.bytes).toBeLessThanOrEqual(2 * (update.length + FRAME_OVERHEAD))
    expect((await post()).changed).toBe(false)
    expect(pushesSent(nodes[0]).frames - first.frames).toBe(2)
  })
})
