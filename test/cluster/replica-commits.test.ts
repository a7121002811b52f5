import { describe, expect, it } from 'vitest'
import { yjsEngine, type DocId } from '@murmur/shared'
import { MemoryStorage, type MurmurServer } from '../../server/dist/index.js'
import { FAST, SECRET, untilMeshed } from '../support/cluster.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { startTestServer } from '../support/servers.js'
import { InstrumentedStorage } from '../support/storage-wrappers.js'
import { eventually } from '../support/wait.js'

/**
 * Three nodes whose background commits would not happen within the test (a 10-minute deadline): every
 * commit of a push seen here was made because someone waited for it.
 */
async function cluster(): Promise<{ nodes: MurmurServer[]; storages: InstrumentedStorage[]; memories: MemoryStorage[] }> {
  const nodes: MurmurServer[] = []
  const storages: InstrumentedStorage[] = []
  const memories: MemoryStorage[] = []
  for (let i = 0; i < 3; i++) {
    const memory = new MemoryStorage(undefined, { backgroundCommitMs: 600_000 })
    const storage = new InstrumentedStorage(memory)
    const peers = nodes.map((x) => x.url.replace(/^http/u, 'ws'))
    // No anti-entropy rounds: a repair that raced the push would deliver the write in its place.
    const config = { ...FAST, antiEntropyMs: 600_000, nodeId: `node-${i}`, clusterSecret: SECRET, peers }
    nodes.push(await startTestServer(config, { storage }))
    storages.push(storage)
    memories.push(memory)
  }
  await untilMeshed(nodes)
  return { nodes, storages, memories }
}

async function storedText(storage: InstrumentedStorage, docId: string): Promise<string | null> {
  const stored = await storage.load({ engine: 'yjs', docId: docId as DocId })
  return stored === null ? null : (yjsEngine.load(stored.snapshot, stored.updates).toJSON() as { t?: string }).t ?? null
}

describe('cluster: replicas commit the pushes nobody waits for in the background', () => {
  it('the node that took a write commits it at once; the replicas it pushed to hold it as background appends', async () => {
    const { nodes, storages, memories } = await cluster()
    const h = sdkClient(nodes[0].url).yjs('pushed')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'typed on node 0')
    await untilSaved(h)
    expect(await storedText(storages[0], 'pushed')).toBe('typed on node 0')
    expect(storages[0].backgroundAppends).toBe(0)
    await eventually(async () => storages[1].backgroundAppends > 0 && storages[2].backgroundAppends > 0, 10_000, 'the pushes')
    expect(storages.map((s) => s.backgroundAppends)).toEqual([0, 1, 1])
    expect(await storedText(storages[1], 'pushed')).toBeNull()
    // Pending, not lost: a graceful stop commits it.
    await nodes[1].close()
    expect(await storedText(new InstrumentedStorage(new MemoryStorage(memories[1].disk)), 'pushed')).toBe('typed on node 0')
  })

  it('W-of-N: replicas=3 is acknowledged once all three hold the write, without waiting for a background deadline', async () => {
    const { nodes, storages } = await cluster()
    const h = sdkClient(nodes[0].url, { replicas: 3 }).yjs('quorum')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'on three disks')
    // The fast push reaches the replicas first as a background append; the W-of-N push that follows is a
    // duplicate there, and its ack must not wait for the ten-minute deadline of the first.
    await untilSaved(h)
    for (const s of storages) expect(await storedText(s, 'quorum')).toBe('on three disks')
  })
})
