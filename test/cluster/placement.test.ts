import { describe, expect, it } from 'vitest'
import { asNodeId, yjsEngine } from '@murmur/shared'
import { Placement, PARTITIONS, locate } from '../../server/dist/cluster/placement.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { untilText } from '../support/ywebsocket.js'
import { eventually } from '../support/wait.js'

const ids = (xs: string[]) => xs.map(asNodeId)

describe('placement', () => {
  it('rendezvous hashing: N replicas per partition, spread evenly, and one new member moves only what it wins', () => {
    const p = new Placement(3)
    p.setMembers(ids(['a', 'b', 'c', 'd', 'e']))
    const load = new Map<string, number>()
    for (let i = 0; i < PARTITIONS; i++) {
      const r = p.replicasOf(i)
      expect(new Set(r).size).toBe(3)
      for (const n of r) load.set(n, (load.get(n) ?? 0) + 1)
    }
    for (const n of load.values()) expect(n).toBeGreaterThan((PARTITIONS * 3) / 5 / 2)
    const before = Array.from({ length: PARTITIONS }, (_, i) => [...p.replicasOf(i)])
    p.setMembers(ids(['a', 'b', 'c', 'd', 'e', 'f']))
    for (let i = 0; i < PARTITIONS; i++) {
      const after = p.replicasOf(i)
      // Every replica that lost its place lost it to the newcomer.
      const removed = before[i].filter((x) => !after.includes(x))
      const added = after.filter((x) => !before[i].includes(x))
      expect(added.length).toBe(removed.length)
      for (const x of added) expect(x).toBe('f')
    }
    expect(new Placement(3).replicasOf(0)).toEqual([])
    const small = new Placement(3)
    small.setMembers(ids(['a', 'b']))
    expect(small.replicasOf(locate('yjs:x').partition)).toHaveLength(2)
  })
})

describe('a cluster larger than the replication factor', () => {
  it('nodes that do not replicate a doc still serve it: writes reach the replicas and clients on other nodes', async () => {
    const nodes = await startCluster(4, { replicationFactor: 2 })
    await untilMeshed(nodes)
    const docId = 'spread-doc'
    const { partition } = locate(`yjs:${docId}`)
    const replicas = nodes[0].cluster!.placement.replicasOf(partition)
    expect(replicas).toHaveLength(2)
    const others = nodes.filter((n) => !replicas.includes(n.cluster!.self))
    expect(others).toHaveLength(2)

    // Writer and reader both on nodes that hold no replica of this doc.
    const writer = sdkClient(others[0].url).yjs(docId)
    const reader = sdkClient(others[1].url).yjs(docId)
    await Promise.all([untilSynced(writer), untilSynced(reader)])
    writer.doc.getText('t').insert(0, 'via non-replicas')
    await untilSaved(writer)
    await untilText(reader.doc, 't', 'via non-replicas')

    // Both replicas hold it durably.
    for (const r of nodes.filter((n) => replicas.includes(n.cluster!.self))) {
      await eventually(async () => {
        const stored = await r.storage.load({ engine: 'yjs', docId: docId as never })
        if (stored === null) return false
        const doc = yjsEngine.load(stored.snapshot, stored.updates)
        return (doc.toJSON() as { t?: string }).t === 'via non-replicas'
      }, 10_000, 'the replica to store the doc')
    }
  })
})
