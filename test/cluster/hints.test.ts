import { describe, expect, it } from 'vitest'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { startNodeProcesses, untilLinked, type ClusterNode } from '../support/node-processes.js'
import { eventually } from '../support/wait.js'

const DOCS = Array.from({ length: 12 }, (_, i) => `hinted-${i}`)

async function text(node: ClusterNode, docId: string): Promise<string | null> {
  const res = await fetch(`${node.url}/v1/docs/yjs/${docId}`)
  if (res.status !== 200) return null
  return ((await res.json()) as { content: { t?: string } }).content.t ?? null
}

describe('cluster: hints survive a crash of the node holding them', () => {
  it('kill -9 a node holding hints while their target is down, restart both: the target gets every hinted write', async () => {
    const [a, b, c] = await startNodeProcesses(3)
    await untilLinked([a, b, c])
    await c.kill()
    await eventually(async () => (await a.cluster()).members.some((m) => m.id === c.name && m.state === 'dead'), 20_000, 'A to see C dead')

    // Writes through A while C is down: A keeps a hint (C, doc) for each, in storage.
    const client = sdkClient(a.url)
    for (const docId of DOCS) {
      const h = client.yjs(docId)
      await untilSynced(h)
      h.doc.getText('t').insert(0, `written to ${docId} while C was down`)
      await untilSaved(h)
    }
    client.close()
    await eventually(async () => (await a.cluster()).replication.hintsStored >= DOCS.length, 20_000, 'the hints in storage on A')

    // A dies with its hints in memory; it comes back while C is still down and holds them all again.
    await a.kill()
    await a.start()
    const restarted = await a.cluster()
    expect(restarted.replication.hintsPending).toBeGreaterThanOrEqual(DOCS.length)

    await c.start()
    await untilLinked([a, b, c])
    for (const docId of DOCS) {
      await eventually(async () => (await text(c, docId)) === `written to ${docId} while C was down`, 30_000, `${docId} on C`)
    }
    const after = await a.cluster()
    // They came as hints: A handed every one of them over when C's link came up.
    expect(after.replication.hintsReplayed).toBeGreaterThanOrEqual(DOCS.length)
    expect(after.replication.hintsPending).toBe(0)
  }, 180_000)
})
