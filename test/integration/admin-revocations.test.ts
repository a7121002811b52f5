/**
 * `/v1/admin/revocations`: an operator revokes a token (by `jti`) or a subject (by `sub`) over HTTP with
 * an admin token. The live sockets of the revoked tokens close within 5 s on every node of a cluster,
 * the revocation survives a restart, and lifting it lets the token in again.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { SignJWT } from 'jose'
import type { MurmurServer } from '../../server/dist/index.js'
import { AUTH_SECRET } from '../support/auth.js'
import { SECRET, startCluster, untilMeshed } from '../support/cluster.js'
import { startTestServer, tempDir, wsUrl } from '../support/servers.js'
import { eventually, within } from '../support/wait.js'

const key = new TextEncoder().encode(AUTH_SECRET)

function sign(sub: string, claims: Record<string, unknown> = {}, jti?: string): Promise<string> {
  const t = new SignJWT({ murmur: { docs: { '*': 'write' }, ...claims } }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h')
  return (jti === undefined ? t : t.setJti(jti)).sign(key)
}

const adminToken = (): Promise<string> => sign('operator', { admin: true })

/** A `/yjs/<doc>` socket with `token`: 'accepted' once its first sync message came, or its close. */
function openSocket(server: MurmurServer, token: string): { outcome: Promise<'accepted' | { code: number }>; closed: Promise<{ code: number; reason: string }>; ws: WebSocket } {
  const ws = new WebSocket(wsUrl(server.url, `/yjs/notes?token=${token}`))
  onTestFinished(() => ws.terminate())
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const outcome = Promise.race([new Promise<'accepted'>((resolve) => ws.once('message', () => resolve('accepted'))), closed])
  return { outcome, closed, ws }
}

async function call(server: MurmurServer, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

async function listed(server: MurmurServer): Promise<unknown[]> {
  const res = await call(server, 'GET', '/v1/admin/revocations', await adminToken())
  expect(res.status).toBe(200)
  return res.json.revocations as unknown[]
}

async function httpStatus(server: MurmurServer, token: string): Promise<number> {
  const res = await fetch(`${server.url}/v1/docs`, { headers: { authorization: `Bearer ${token}` } })
  await res.arrayBuffer()
  return res.status
}

describe('/v1/admin/revocations', () => {
  it('refuses tokens without the admin claim (403) and requests without a token (401); bad bodies get 400', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const writer = await sign('alice')
    for (const [method, path, body] of [
      ['GET', '/v1/admin/revocations', undefined],
      ['POST', '/v1/admin/revocations', { sub: 'bob' }],
      ['DELETE', '/v1/admin/revocations?sub=bob', undefined],
    ] as const) {
      expect((await call(server, method, path, null, body)).status).toBe(401)
      const refused = await call(server, method, path, writer, body)
      expect(refused.status).toBe(403)
      expect(refused.json.code).toBe('MUR_ERR_FORBIDDEN')
    }
    // The writer was refused: nothing was revoked.
    expect(await listed(server)).toEqual([])
    const admin = await adminToken()
    for (const body of [{}, { jti: 'a', sub: 'b' }, { jti: '' }, { sub: 7 }, { sub: 'b', expiresAt: 'soon' }, { sub: 'b', expiresAt: '2001-01-01T00:00:00Z' }, { sub: 'b', until: 1 }]) {
      const res = await call(server, 'POST', '/v1/admin/revocations', admin, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.json.code).toBe('MUR_ERR_MALFORMED_MESSAGE')
    }
    expect((await call(server, 'DELETE', '/v1/admin/revocations', admin)).status).toBe(400)
  })

  it('closes the live socket of a revoked subject within 5 s, lists it, keeps it across a restart, and lifts it', async () => {
    const dataDir = tempDir()
    const config = { authSecret: AUTH_SECRET, storage: 'sqlite', dataDir }
    let server = await startTestServer(config)
    const alice = openSocket(server, await sign('alice'))
    const bob = openSocket(server, await sign('bob', {}, 'bob-token-1'))
    for (const s of [alice, bob]) expect(await within(s.outcome, 5000, 'accepted')).toBe('accepted')

    const admin = await adminToken()
    const revoked = await call(server, 'POST', '/v1/admin/revocations', admin, { sub: 'alice' })
    expect(revoked.status).toBe(201)
    expect(revoked.json).toMatchObject({ revocation: { sub: 'alice', expiresAt: null }, persisted: true })
    expect(await within(alice.closed, 5000, 'the revoked socket closed')).toEqual({ code: 4401, reason: expect.stringMatching(/revoked/u) as unknown as string })
    expect(bob.ws.readyState).toBe(WebSocket.OPEN)
    const expiresAt = new Date(Date.now() + 3600_000).toISOString()
    expect((await call(server, 'POST', '/v1/admin/revocations', admin, { jti: 'bob-token-1', expiresAt })).status).toBe(201)
    expect(await within(bob.closed, 5000, 'the socket of the revoked token closed')).toMatchObject({ code: 4401 })
    expect(await httpStatus(server, await sign('bob', {}, 'bob-token-2'))).toBe(200)
    expect(await listed(server)).toEqual([expect.objectContaining({ sub: 'alice' }), expect.objectContaining({ jti: 'bob-token-1', expiresAt })])

    await server.close()
    server = await startTestServer(config)
    expect(await listed(server)).toEqual([expect.objectContaining({ sub: 'alice' }), expect.objectContaining({ jti: 'bob-token-1', expiresAt })])
    expect(await httpStatus(server, await sign('alice'))).toBe(401)
    expect(await within(openSocket(server, await sign('bob', {}, 'bob-token-1')).outcome, 5000, 'the revoked token refused')).toMatchObject({ code: 4401 })

    const lifted = await call(server, 'DELETE', '/v1/admin/revocations?sub=alice', await adminToken())
    expect(lifted).toMatchObject({ status: 200, json: { lifted: true } })
    expect((await call(server, 'DELETE', '/v1/admin/revocations?sub=alice', await adminToken())).json).toMatchObject({ lifted: false })
    expect(await within(openSocket(server, await sign('alice')).outcome, 5000, 'alice again')).toBe('accepted')
    await server.close()
    server = await startTestServer(config)
    expect(await httpStatus(server, await sign('alice'))).toBe(200)
    expect(await listed(server)).toEqual([expect.objectContaining({ jti: 'bob-token-1' })])
  })

  it('in a cluster: a revocation made on one node closes the socket on another, and a node that joins later learns it', async () => {
    const [a, b] = await startCluster(2, { authSecret: AUTH_SECRET })
    await untilMeshed([a, b])
    const alice = openSocket(b, await sign('alice'))
    expect(await within(alice.outcome, 5000, 'accepted on node b')).toBe('accepted')

    expect((await call(a, 'POST', '/v1/admin/revocations', await adminToken(), { sub: 'alice' })).status).toBe(201)
    expect(await within(alice.closed, 5000, 'the socket on node b closed')).toMatchObject({ code: 4401 })
    expect(await listed(b)).toEqual([expect.objectContaining({ sub: 'alice' })])

    const c = await startTestServer({ authSecret: AUTH_SECRET, clusterSecret: SECRET, nodeId: 'node-c', peers: [a.url.replace(/^http/u, 'ws')], probeIntervalMs: 200 })
    await untilMeshed([a, b, c])
    await eventually(async () => (await httpStatus(c, await sign('alice'))) === 401, 10_000, 'node c to refuse alice')
    expect(await listed(c)).toEqual([expect.objectContaining({ sub: 'alice' })])
    // Lifted on node c: node a lets alice in again.
    expect((await call(c, 'DELETE', '/v1/admin/revocations?sub=alice', await adminToken())).json).toMatchObject({ lifted: true })
    await eventually(async () => (await httpStatus(a, await sign('alice'))) === 200, 10_000, 'node a to let alice in again')
  })
})
