import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { MurmurServer } from '../../server/dist/index.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { once, within } from '../support/wait.js'

const key = { engine: 'yjs' as const, docId: 'shared-history' as never }

/** Resolves when `node` stored (or deleted) version `id` pushed by a peer. */
function applied(node: MurmurServer, id: () => string): Promise<void> {
  const replicated = node.cluster?.versions
  if (replicated === undefined) throw new Error('not a cluster node')
  return new Promise((resolve) => {
    const seen = (_doc: unknown, got: string): void => {
      if (got !== id()) return
      replicated.off('applied', seen)
      resolve()
    }
    replicated.on('applied', seen)
  })
}

describe('cluster: versions are replicated like the doc', () => {
  it('a named version made on one node reaches every replica, reads the same there, and its deletion too', async () => {
    const nodes = await startCluster(3, { antiEntropyMs: 600_000, replicationFactor: 3 })
    await untilMeshed(nodes)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'replicated text')
    const post = await nodes[0].http.inject({
      method: 'POST',
      url: '/v1/docs/yjs/shared-history/updates',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from(Y.encodeStateAsUpdate(doc)),
    })
    expect(post.statusCode).toBe(200)

    let id = ''
    const arrivals = nodes.slice(1).map((n) => applied(n, () => id))
    const stored = once(nodes[0].versions, 'stored')
    const made = nodes[0].http.inject({ method: 'POST', url: '/v1/docs/yjs/shared-history/versions', payload: { name: 'everywhere' } })
    id = ((await stored)[1] as { id: string }).id
    expect((await made).statusCode).toBe(201)
    await within(Promise.all(arrivals), 10_000, 'the version on every replica')
    for (const node of nodes.slice(1)) {
      expect((await node.storage.versions(key)).map((v) => v.name)).toEqual(['everywhere'])
      const read = await node.http.inject({ url: `/v1/docs/yjs/shared-history/versions/${id}` })
      expect(read.json().content).toEqual({ t: 'replicated text' })
    }

    const deletions = nodes.slice(1).map((n) => applied(n, () => id))
    expect((await nodes[0].http.inject({ method: 'DELETE', url: `/v1/docs/yjs/shared-history/versions/${id}` })).statusCode).toBe(200)
    await within(Promise.all(deletions), 10_000, 'the deletion on every replica')
    for (const node of nodes) expect(await node.storage.versions(key)).toEqual([])
  })
})
