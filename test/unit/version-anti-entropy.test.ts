/**
 * Version anti-entropy between two nodes' `VersionReplication`, wired back to back over encoded peer
 * messages: after one exchange both hold the same versions and the same deletes, whoever missed what;
 * when they already agree, a round is one message and no answer.
 */
import { describe, expect, it } from 'vitest'
import { asDocId, asNodeId, type NodeId } from '@murmur/shared'
import { MemoryStorage, type DocKey, type StoredVersion } from '../../server/dist/index.js'
import { VersionReplication } from '../../server/dist/cluster/version-replication.js'
import { PARTITIONS } from '../../server/dist/cluster/placement.js'
import { decodePeerMessage, encodePeerMessage, type PeerMessage } from '../../server/dist/cluster/peer-protocol.js'

const A = asNodeId('a')
const B = asNodeId('b')
const ALL = Array.from({ length: PARTITIONS }, (_, p) => p)
const silent = { warn: () => undefined } as never

const doc = (id: string): DocKey => ({ engine: 'yjs', docId: asDocId(id) })
const version = (id: string): StoredVersion => ({ id, name: id, kind: 'named', principal: 'p', at: 1, seq: 1, state: new Uint8Array([1, 2]) })

/** Two nodes replicating every doc; messages go through the wire encoding and are delivered in order. */
async function pair(fill: (a: MemoryStorage, b: MemoryStorage) => Promise<void>) {
  const stores = { a: new MemoryStorage(), b: new MemoryStorage() }
  await fill(stores.a, stores.b)
  const queue: [NodeId, PeerMessage][] = []
  let messages = 0
  const node = (self: NodeId, storage: MemoryStorage) =>
    new VersionReplication({
      self,
      replicasOf: () => [A, B],
      sharedPartitions: () => ALL,
      send: (peer, msg) => {
        messages++
        queue.push([peer, decodePeerMessage(encodePeerMessage(msg))])
        return true
      },
      storage,
      log: silent,
    })
  const nodes = { a: node(A, stores.a), b: node(B, stores.b) }
  await Promise.all([nodes.a.start(), nodes.b.start()])
  /** Deliver until nothing is left, each message handled (its storage writes done) before the next. */
  const settle = async (): Promise<void> => {
    while (queue.length > 0) {
      const [to, msg] = queue.shift()!
      const from = to === A ? B : A
      await (to === A ? nodes.a : nodes.b).receive(from, msg as never)
    }
  }
  return { stores, nodes, settle, messages: () => messages }
}

const ids = async (s: MemoryStorage, key: DocKey) => (await s.versions(key)).map((v) => v.id).sort()

describe('version anti-entropy', () => {
  it('brings both nodes the versions and deletes each missed, without bringing a deleted version back', async () => {
    const x = doc('x')
    const y = doc('y')
    const { stores, nodes, settle } = await pair(async (a, b) => {
      // a made v1, v2 and deleted v0 while b was away; b still has v0, and made w on another doc.
      for (const s of [a, b]) await s.putVersion(x, version('v0'))
      await a.putVersion(x, version('v1'))
      await a.putVersion(x, version('v2'))
      await a.deleteVersion(x, 'v0')
      await b.putVersion(y, version('w'))
    })
    nodes.a.compare(B)
    await settle()
    for (const s of [stores.a, stores.b]) {
      expect(await ids(s, x)).toEqual(['v1', 'v2'])
      expect(await ids(s, y)).toEqual(['w'])
    }
    expect(await stores.b.version(x, 'v2')).toEqual(version('v2'))
  })

  it('costs one message when both already agree', async () => {
    const { nodes, settle, messages } = await pair(async (a, b) => {
      for (const s of [a, b]) {
        await s.putVersion(doc('x'), version('v1'))
        await s.deleteVersion(doc('x'), 'gone')
      }
    })
    nodes.b.compare(A)
    await settle()
    expect(messages()).toBe(1)
  })
})
