import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { EngineName, asDocId } from '@murmur/shared'
import { MemoryDisk, MemoryStorage } from '../../server/dist/index.js'
import { loadTrace } from '../../bench/dist/traces.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient, untilSynced } from '../support/sdk.js'
import { TcpProxy } from '../support/tcp-proxy.js'

describe('a large doc syncs through a throttled link', () => {
  it('the full automerge-paper trace doc reaches a fresh client without a reconnect loop', async () => {
    const trace = loadTrace('automerge-paper')
    const doc = new Y.Doc()
    const text = doc.getText('t')
    // One transaction per edit, as typed: the doc carries the whole history of 259,778 edits.
    for (const [pos, del, ins] of trace.patches) {
      doc.transact(() => {
        if (del > 0) text.delete(pos, del)
        if (ins !== '') text.insert(pos, ins)
      })
    }
    if (trace.endContent !== null) expect(text.toString()).toBe(trace.endContent)
    const disk = new MemoryDisk()
    const seed = new MemoryStorage(disk)
    await seed.append({ engine: EngineName.yjs, docId: asDocId('paper') }, Y.encodeStateAsUpdate(doc))
    await seed.close()

    const server = await startTestServer({ keepAliveMs: 500 }, { storage: new MemoryStorage(disk) })
    const proxy = await TcpProxy.start(server.port)
    // ~300 KB at 64 KB/s takes about 5 s: far longer than the client's liveness limit of 1.5 s below,
    // so only a transfer that keeps proving the link alive gets through without a reconnect.
    proxy.mode = { kind: 'throttle', bytesPerSecond: 64 * 1024 }
    const client = sdkClient(proxy.url, { pingIntervalMs: 500, deadAfterMs: 1500 })
    const h = client.yjs('paper')
    await untilSynced(h, 60_000)
    expect(h.doc.getText('t').toString()).toBe(text.toString())
    expect(proxy.accepted).toBe(1)
  })
})
