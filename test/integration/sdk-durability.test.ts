import { describe, expect, it } from 'vitest'
import { spawnNode, tempDir } from '../support/servers.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { freePort } from '../support/ports.js'
import { untilText } from '../support/ywebsocket.js'
import { HandleStatus } from '../../client/dist/index.js'
import { until } from '../support/wait.js'

describe('client SDK against real node processes', () => {
  it('an ack means durable: kill -9 right after the ack, restart, the update is there', async () => {
    const dataDir = tempDir()
    const port = await freePort()
    const node = await spawnNode(['--port', String(port), '--data-dir', dataDir])
    const client = sdkClient(node.url)
    const h = client.yjs('acked')
    await untilSynced(h)
    for (let round = 0; round < 5; round++) {
      h.doc.getText('t').insert(h.doc.getText('t').length, `round ${round}; `)
      await untilSaved(h)
    }
    const expected = h.doc.getText('t').toString()
    await node.kill('SIGKILL')
    await client.close()

    const again = await spawnNode(['--port', String(port), '--data-dir', dataDir])
    const reader = sdkClient(again.url)
    const r = reader.yjs('acked')
    await untilSynced(r)
    expect(r.doc.getText('t').toString()).toBe(expected)
  })

  it('server restart mid-session: 200 clients reconnect by themselves and all get back to synced', async () => {
    const dataDir = tempDir()
    const port = await freePort()
    const node = await spawnNode(['--port', String(port), '--data-dir', dataDir])
    const clients = Array.from({ length: 200 }, () => sdkClient(node.url, { backoffInitialMs: 100, backoffMaxMs: 2000 }))
    const handles = clients.map((c, i) => c.yjs(`room-${i % 20}`))
    await Promise.all(handles.map((h) => untilSynced(h)))

    await node.kill('SIGKILL')
    await Promise.all(handles.map((h) => until(() => h.status !== HandleStatus.synced, (cb) => h.on('status', cb), 10_000, 'disconnect noticed')))
    // Edits while the server is down are kept and sent after the reconnect.
    handles.forEach((h, i) => h.doc.getText('t').insert(0, `c${i};`))
    await spawnNode(['--port', String(port), '--data-dir', dataDir])
    await Promise.all(handles.map((h) => untilSynced(h, 60_000)))
    for (const h of handles) expect(h.unsavedCount).toBe(0)
    // Clients of one room converged on every edit of that room.
    const room0 = handles.filter((_, i) => i % 20 === 0)
    const text = room0[0].doc.getText('t').toString()
    for (const h of room0) await untilText(h.doc, 't', text)
    for (let i = 0; i < 200; i += 20) expect(text).toContain(`c${i};`)
  })
})
