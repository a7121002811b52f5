import net from 'node:net'
import { Writable } from 'node:stream'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { pino } from 'pino'
import * as Y from 'yjs'
import type { MurmurServer, ServerConfig } from '../../server/dist/index.js'
import { peerHeaders, signPeerToken, PEER_TOKEN_HEADER } from '../../server/dist/cluster/peer-auth.js'
import { FAST, SECRET, untilMeshed } from '../support/cluster.js'
import { freePort } from '../support/ports.js'
import { startTestServer } from '../support/servers.js'
import { eventually } from '../support/wait.js'

const OLD = 'the-secret-being-rotated-out'
const NEW = 'the-secret-rotated-in'

/** A node whose warnings land in `lines` (the refusals' log lines). */
async function loggedNode(overrides: Partial<ServerConfig>): Promise<{ node: MurmurServer; lines: string[] }> {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''))
      done()
    },
  })
  const node = await startTestServer({ ...FAST, clusterSecret: SECRET, ...overrides }, { logger: pino({ level: 'warn' }, sink) })
  return { node, lines }
}

/** The status a `/peer` upgrade with these headers gets: 101 when the link opens. */
function attempt(node: MurmurServer, headers: Record<string, string>): Promise<number> {
  return new Promise<number>((resolve) => {
    const ws = new WebSocket(node.url.replace(/^http/u, 'ws') + '/peer', { headers })
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.on('open', () => {
      ws.close()
      resolve(101)
    })
    ws.on('error', () => undefined)
  })
}

/**
 * A TCP relay to `target()` that keeps the first bytes each connection sends: the upgrade request of a
 * peer link, headers and all, as someone on the path would capture it.
 */
async function recordingRelay(target: () => number): Promise<{ port: number; requests: Buffer[] }> {
  const requests: Buffer[] = []
  const server = net.createServer((client) => {
    const upstream = net.connect(target(), '127.0.0.1')
    let first = true
    client.on('data', (d: Buffer) => {
      if (first) requests.push(d)
      first = false
      upstream.write(d)
    })
    upstream.on('data', (d: Buffer) => client.write(d))
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as net.AddressInfo).port, requests }
}

/** Send raw request bytes to a node's port; the status line it answers with. */
function replay(port: number, request: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request))
    let answer = ''
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1')
      if (answer.includes('\r\n')) {
        resolve(answer.split('\r\n')[0])
        socket.destroy()
      }
    })
    socket.on('error', reject)
  })
}

describe('peer links: short-lived single-use tokens', () => {
  it('a recorded handshake replayed within its lifetime is refused with 401 and a log line', async () => {
    let aPort = 0
    const relay = await recordingRelay(() => aPort)
    // Node A is reached through the relay (as behind a proxy): that is the URL it advertises.
    const { node: a, lines } = await loggedNode({ nodeId: 'node-a', advertiseUrl: `ws://127.0.0.1:${relay.port}` })
    aPort = a.port
    const b = await startTestServer({ ...FAST, nodeId: 'node-b', clusterSecret: SECRET, peers: [`ws://127.0.0.1:${relay.port}`] })
    await untilMeshed([a, b])
    const handshake = relay.requests.find((r) => r.toString('latin1').startsWith('GET /peer '))
    expect(handshake).toBeDefined()
    expect(handshake!.toString('latin1').toLowerCase()).toContain(PEER_TOKEN_HEADER)
    // The same bytes again, seconds later: well within the token's lifetime.
    expect(await replay(a.port, handshake!)).toMatch(/^HTTP\/1\.1 401/u)
    await eventually(async () => lines.some((l) => l.includes('peer link refused: replayed token')), 5000, 'the refusal logged')
  })

  it('a token addressed to another node is refused (wrong audience)', async () => {
    const { node: a, lines } = await loggedNode({ nodeId: 'node-a' })
    const elsewhere = `ws://127.0.0.1:${await freePort()}`
    const token = await signPeerToken(SECRET, { id: 'node-x', url: 'ws://127.0.0.1:1' }, elsewhere)
    expect(await attempt(a, { [PEER_TOKEN_HEADER]: token })).toBe(401)
    expect(lines.some((l) => l.includes('peer link refused: wrong audience'))).toBe(true)
    // The same kind of token, addressed to A, opens a link (by URL or by node id).
    expect(await attempt(a, await peerHeaders(SECRET, { id: 'node-x', url: 'ws://127.0.0.1:1' }, a.url.replace(/^http/u, 'ws')))).toBe(101)
    expect(await attempt(a, await peerHeaders(SECRET, { id: 'node-x', url: 'ws://127.0.0.1:1' }, 'node-a'))).toBe(101)
  })

  it('an expired token is refused and says so', async () => {
    const { node: a, lines } = await loggedNode({ nodeId: 'node-a' })
    const self = a.url.replace(/^http/u, 'ws')
    expect(await attempt(a, await peerHeaders(SECRET, { id: 'node-x', url: 'ws://127.0.0.1:1' }, self, Date.now() - 10 * 60_000))).toBe(401)
    expect(lines.some((l) => l.includes('peer link refused: expired token'))).toBe(true)
  })

  it('secret rotation: tokens of the old secret are accepted while it is the previous one, refused once it is gone', async () => {
    const port = await freePort()
    const during = await startTestServer({ ...FAST, nodeId: 'node-a', port, clusterSecret: NEW, clusterSecretPrevious: OLD })
    const self = during.url.replace(/^http/u, 'ws')
    const from = { id: 'node-b', url: 'ws://127.0.0.1:1' }
    expect(await attempt(during, await peerHeaders(OLD, from, self))).toBe(101)
    expect(await attempt(during, await peerHeaders(NEW, from, self))).toBe(101)
    // A node not yet restarted (old secret only) links to one that is: the cluster stays whole meanwhile.
    const notYet = await startTestServer({ ...FAST, nodeId: 'node-b', clusterSecret: OLD, peers: [self] })
    await untilMeshed([during, notYet])
    const h = await during.registry.get({ engine: 'yjs', docId: 'rotated' as never })
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'across the rotation')
    await h.apply(Y.encodeStateAsUpdate(doc), { from: null })
    await eventually(async () => (await notYet.registry.get({ engine: 'yjs', docId: 'rotated' as never })).doc.version() === h.doc.version(), 10_000, 'the write on node-b')
    await notYet.close()
    await during.close()
    // After the rotation: the old secret is removed everywhere.
    const after = await startTestServer({ ...FAST, nodeId: 'node-a', port, clusterSecret: NEW })
    expect(await attempt(after, await peerHeaders(OLD, from, self))).toBe(401)
    expect(await attempt(after, await peerHeaders(NEW, from, self))).toBe(101)
  })
})
