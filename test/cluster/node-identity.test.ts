import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ErrorCode, MessageType, PROTOCOL_MAJOR, PROTOCOL_MINOR, decodeMessage, encodeMessage, type Message } from '@murmur/shared'
import { FAST, SECRET } from '../support/cluster.js'
import { textUpdate } from '../support/cli.js'
import { freePort } from '../support/ports.js'
import { spawnNode, startTestServer, tempDir, wsUrl, type NodeProcess } from '../support/servers.js'
import { eventually, within } from '../support/wait.js'

/**
 * Node identity: a second process started under a node id that is alive in the cluster is refused by
 * the others, says so, serves no doc and acknowledges no write; ids are kept in the data dir.
 */

const CLASH = /node id node-b is already alive in the cluster/u

function nodeArgs(port: number, id: string, dataDir: string, peers: string[]): string[] {
  return [
    '--port', String(port), '--data-dir', dataDir, '--node-id', id, '--cluster-secret', SECRET,
    ...(peers.length > 0 ? ['--peers', peers.join(',')] : []),
    '--probe-interval-ms', String(FAST.probeIntervalMs), '--anti-entropy-ms', String(FAST.antiEntropyMs),
  ]
}

const ws = (n: NodeProcess): string => n.url.replace(/^http/u, 'ws')

/** A /sync client that writes one update; resolves with the first answer about it (an ack or an error). */
async function writeOverSync(url: string, docId: string): Promise<Message> {
  const socket = new WebSocket(wsUrl(url, '/sync'))
  socket.on('error', () => undefined)
  const answered = new Promise<Message>((resolve, reject) => {
    socket.on('message', (data: Buffer) => {
      const msg = decodeMessage(new Uint8Array(data))
      if (msg.type === MessageType.ack || msg.type === MessageType.error) resolve(msg)
    })
    socket.once('close', (code) => reject(new Error(`closed with ${code} before any answer`)))
  })
  await new Promise<void>((resolve) => socket.once('open', () => resolve()))
  socket.send(encodeMessage({ type: MessageType.hello, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, token: '', client: 'identity-test' }))
  socket.send(encodeMessage({ type: MessageType.open, ref: 1, engine: 'yjs', docId }))
  socket.send(encodeMessage({ type: MessageType.update, ref: 1, id: 'u1', replicas: 0, payload: textUpdate('never acked') }))
  try {
    return await within(answered, 20_000, 'an answer to the /sync write')
  } finally {
    socket.terminate()
  }
}

describe('node identity', () => {
  it('a second process under a live node id is refused on both sides, and acknowledges no write', { timeout: 120_000 }, async () => {
    const [pa, pb, px] = [await freePort(), await freePort(), await freePort()]
    const a = await spawnNode(nodeArgs(pa, 'node-a', tempDir(), []))
    const b = await spawnNode(nodeArgs(pb, 'node-b', tempDir(), [ws(a)]))
    await eventually(async () => {
      const view = (await (await fetch(`${a.url}/v1/cluster`)).json()) as { members: { id: string; state: string; connected: boolean }[] }
      return view.members.some((m) => m.id === 'node-b' && m.state === 'alive' && m.connected)
    }, 30_000, 'node-b to join')

    // Same id, its own data dir, seeded with both: a second live process, not a restart.
    const impostor = await spawnNode(nodeArgs(px, 'node-b', tempDir(), [ws(a), ws(b)]))
    await eventually(async () => impostor.output.some((l) => CLASH.test(l)), 20_000, 'the impostor to say it is refused')
    await eventually(async () => a.output.some((l) => /refused a second process claiming node id node-b/u.test(l)), 20_000, 'node-a to say it refused it')
    expect(b.output.some((l) => /refused a second process claiming node id node-b/u.test(l))).toBe(true)

    // It is not ready, and no write is acknowledged: not over HTTP, not over /sync.
    const ready = await fetch(`${impostor.url}/readyz`)
    expect(ready.status).toBe(503)
    const post = await fetch(`${impostor.url}/v1/docs/yjs/clash/updates`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(textUpdate('x')) })
    expect(post.status).toBe(503)
    expect(((await post.json()) as { code: string }).code).toBe(ErrorCode.NODE_ID_CONFLICT)
    expect(await writeOverSync(impostor.url, 'clash')).toMatchObject({ type: MessageType.error, code: ErrorCode.NODE_ID_CONFLICT })
    // The cluster never got it, and the real node-b is still a member in good standing.
    for (const node of [a, b]) expect(((await (await fetch(`${node.url}/v1/docs/yjs/clash`)).json()) as { content: unknown }).content).toEqual({})
    const view = (await (await fetch(`${a.url}/v1/cluster`)).json()) as { members: { id: string; url: string; state: string }[] }
    expect(view.members.find((m) => m.id === 'node-b')).toMatchObject({ state: 'alive', url: ws(b) })
  })

  it('the id is kept in the data dir: generated once without --node-id, and a different --node-id is refused unless --rename-node', async () => {
    const dataDir = tempDir()
    const first = await startTestServer({ storage: 'sqlite', dataDir })
    const generated = first.nodeId
    expect(generated).toMatch(/^node-[0-9a-f]{8}$/u)
    await first.close()
    const again = await startTestServer({ storage: 'sqlite', dataDir })
    expect(again.nodeId).toBe(generated)
    await again.close()
    await expect(startTestServer({ storage: 'sqlite', dataDir, nodeId: 'other' })).rejects.toThrow(new RegExp(`--node-id other: the data dir .* belongs to node "${generated}".*--rename-node`, 'u'))
    const renamed = await startTestServer({ storage: 'sqlite', dataDir, nodeId: 'other', renameNode: true })
    expect(renamed.nodeId).toBe('other')
    await renamed.close()
    const kept = await startTestServer({ storage: 'sqlite', dataDir })
    expect(kept.nodeId).toBe('other')
  })
})
