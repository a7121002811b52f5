import { describe, expect, it } from 'vitest'
import { SECRET, startCluster, untilMeshed } from '../support/cluster.js'
import WebSocket from 'ws'
import { peerHeaders } from '../../server/dist/cluster/peer-auth.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { untilText, whenProviderSynced, yProvider } from '../support/ywebsocket.js'
import { eventually, until } from '../support/wait.js'
import { yjsEngine } from '@murmur/shared'

describe('cluster: any node serves any doc', () => {
  it('a client on node A edits; clients on node C see it (SDK and y-websocket)', async () => {
    const [a, b, c] = await startCluster(3)
    await untilMeshed([a, b, c])
    const writer = sdkClient(a.url)
    const w = writer.yjs('cross-node')
    await untilSynced(w)
    const sdkReader = sdkClient(c.url)
    const r = sdkReader.yjs('cross-node')
    await untilSynced(r)
    const yReader = yProvider(c.url, 'cross-node')
    await whenProviderSynced(yReader)
    w.doc.getText('t').insert(0, 'typed on A')
    await untilText(r.doc, 't', 'typed on A')
    await untilText(yReader.doc, 't', 'typed on A')
    // And the other way round, from a y-websocket client on B.
    const yWriter = yProvider(b.url, 'cross-node')
    await whenProviderSynced(yWriter)
    await untilText(yWriter.doc, 't', 'typed on A')
    yWriter.doc.getText('t').insert(0, 'B says hi. ')
    await untilText(w.doc, 't', 'B says hi. typed on A')
  })

  it('concurrent edits through all three nodes converge', async () => {
    const nodes = await startCluster(3)
    await untilMeshed(nodes)
    const handles = nodes.map((n) => sdkClient(n.url).yjs('busy'))
    await Promise.all(handles.map((h) => untilSynced(h)))
    for (let i = 0; i < 30; i++) handles.forEach((h, j) => h.doc.getText('t').insert(0, `${j}:${i};`))
    await Promise.all(handles.map((h) => untilSaved(h)))
    const same = () => handles.every((h) => h.doc.getText('t').toString() === handles[0].doc.getText('t').toString())
    await until(same, (cb) => {
      handles.forEach((h) => h.doc.on('update', cb))
      return () => handles.forEach((h) => h.doc.off('update', cb))
    }, 20_000, 'convergence')
    for (let j = 0; j < 3; j++) for (let i = 0; i < 30; i++) expect(handles[0].doc.getText('t').toString()).toContain(`${j}:${i};`)
  })

  it('W-of-N: an update acknowledged with replicas=3 is durable on all three nodes', async () => {
    const nodes = await startCluster(3)
    await untilMeshed(nodes)
    const client = sdkClient(nodes[0].url, { replicas: 3 })
    const h = client.yjs('quorum')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'on three disks')
    await untilSaved(h)
    // The ack came after every replica made it durable: each node's storage holds it now.
    for (const n of nodes) {
      const stored = await n.storage.load({ engine: 'yjs', docId: 'quorum' as never })
      expect(stored).not.toBeNull()
      const doc = yjsEngine.load(stored!.snapshot, stored!.updates)
      expect((doc.toJSON() as { t: string }).t).toBe('on three disks')
    }
  })

  it('W-of-N: asking for more replicas than exist gives a clear error and keeps the update unsaved', async () => {
    const nodes = await startCluster(2)
    await untilMeshed(nodes)
    const client = sdkClient(nodes[0].url, { replicas: 3 })
    const h = client.yjs('too-many')
    await untilSynced(h)
    const errors: string[] = []
    h.on('error', (e) => errors.push(e.code))
    h.doc.getText('t').insert(0, 'x')
    await until(() => errors.length > 0, (cb) => h.on('error', cb), 10_000, 'an error')
    expect(errors[0]).toBe('MUR_ERR_REPLICATION_TIMEOUT')
    expect(h.unsavedCount).toBe(1)
  })

  it('/peer refuses links without a valid token signed with the cluster secret', async () => {
    const [node] = await startCluster(1)
    const self = node.url.replace(/^http/u, 'ws')
    const url = self + '/peer'
    const attempt = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers })
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.on('open', () => {
          ws.close()
          resolve(101)
        })
        ws.on('error', () => undefined)
      })
    expect(await attempt({})).toBe(401)
    expect(await attempt(await peerHeaders('wrong-secret', { id: 'intruder', url: 'ws://127.0.0.1:1' }, self))).toBe(401)
    const stale = await peerHeaders(SECRET, { id: 'old', url: 'ws://127.0.0.1:1' }, self, Date.now() - 60 * 60_000)
    expect(await attempt(stale)).toBe(401)
    expect(await attempt(await peerHeaders(SECRET, { id: 'friend', url: 'ws://127.0.0.1:1' }, self))).toBe(101)
  })

  it('a doc deleted through the HTTP API on one node is a tombstone on every node', async () => {
    const nodes = await startCluster(3)
    await untilMeshed(nodes)
    const h = sdkClient(nodes[0].url).yjs('doomed')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'short-lived')
    await untilSaved(h)
    const res = await fetch(`${nodes[1].url}/v1/docs/yjs/doomed`, { method: 'DELETE' })
    expect(res.status).toBe(200)
    for (const n of nodes) {
      await eventually(async () => (await n.storage.tombstoneOf({ engine: 'yjs', docId: 'doomed' as never })) !== null, 10_000, `the tombstone on ${n.cluster!.self}`)
      // The index keeps it as a tombstone, which anti-entropy compares like a version.
      expect(n.cluster!.index.isDeleted('yjs:doomed')).toBe(true)
      expect(n.cluster!.index.version('yjs:doomed')).toBe('deleted')
      expect((await fetch(`${n.url}/v1/docs/yjs/doomed`)).status).toBe(410)
    }
  })
})
