import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import * as A from '@automerge/automerge'
import * as Y from 'yjs'
import type { MurmurServer } from '../../server/dist/index.js'
import { PeerMessageType } from '../../server/dist/cluster/peer-protocol.js'
import { FAST, SECRET, untilMeshed } from '../support/cluster.js'
import { startTestServer } from '../support/servers.js'
import { eventually } from '../support/wait.js'

/**
 * An Automerge doc with a long history: `changes` changes of `bytes` random characters each (immutable
 * strings, so that building it is quick: the history, not the op count, is what crosses the link).
 */
function longAutomergeHistory(changes: number, bytes: number): Uint8Array {
  let doc = A.from<{ log: A.ImmutableString[] }>({ log: [] })
  for (let i = 0; i < changes; i++) {
    doc = A.change(doc, (d) => {
      d.log.push(new A.ImmutableString(randomBytes(bytes).toString('base64').slice(0, bytes)))
    })
  }
  return A.save(doc)
}

/** A Yjs doc of `edits` inserts of `bytes` random characters each. */
function longYjsHistory(edits: number, bytes: number): Uint8Array {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  for (let i = 0; i < edits; i++) text.insert(text.length, randomBytes(bytes).toString('base64').slice(0, bytes))
  return Y.encodeStateAsUpdate(doc)
}

async function stateOf(node: MurmurServer, engine: 'yjs' | 'automerge', docId: string): Promise<string> {
  const doc = await node.registry.get({ engine, docId: docId as never })
  return doc.doc.version()
}

/**
 * A node holding a large doc, then an empty node joining it: the first sync crosses the link in frames no
 * larger than `frameBytes`, as pieces, and the empty node ends with the same doc.
 */
async function firstSync(engine: 'yjs' | 'automerge', update: Uint8Array, frameBytes: number, setting: { peerFrameBytes?: number }): Promise<void> {
  const config = { ...FAST, clusterSecret: SECRET, ...setting }
  const full = await startTestServer({ ...config, nodeId: 'node-full' })
  const doc = await full.registry.get({ engine, docId: 'long-history' as never })
  await doc.apply(update, { from: null })
  const version = doc.doc.version()
  const empty = await startTestServer({ ...config, nodeId: 'node-empty', peers: [full.url.replace(/^http/u, 'ws')] })
  await untilMeshed([full, empty])
  await eventually(async () => (await stateOf(empty, engine, 'long-history')) === version, 60_000, 'the same version on the empty node')
  const links = full.cluster!.links
  // The doc is several frames' worth: it crossed in pieces, none larger than the bound, on either side.
  expect(update.length).toBeGreaterThan(3 * frameBytes)
  expect(links.sent.frames[PeerMessageType.chunk] ?? 0).toBeGreaterThanOrEqual(3)
  expect(links.sent.largest).toBeLessThanOrEqual(frameBytes)
  expect(empty.cluster!.links.largestReceived).toBeLessThanOrEqual(frameBytes)
  expect(empty.cluster!.links.sent.largest).toBeLessThanOrEqual(frameBytes)
  // The metrics show it.
  const metrics = await (await fetch(`${full.url}/metrics`)).text()
  const sentChunks = Number(/^murmur_sync_chunks_sent_total (\d+)/mu.exec(metrics)?.[1] ?? '0')
  expect(sentChunks).toBeGreaterThanOrEqual(3)
  expect(metrics).toMatch(/^murmur_sync_chunked_in_progress 0$/mu)
}

describe('bounded first sync: a long history crosses a peer link in bounded frames', () => {
  it('Automerge: a doc of many changes reaches an empty peer in frames of at most 64 KiB', async () => {
    await firstSync('automerge', longAutomergeHistory(300, 2000), 64 * 1024, { peerFrameBytes: 64 * 1024 })
  })

  it('Yjs: a 4 MB doc reaches an empty peer in frames of at most 1 MiB (the default)', async () => {
    await firstSync('yjs', longYjsHistory(400, 10_000), 1024 * 1024, {})
  })
})
