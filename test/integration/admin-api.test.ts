/**
 * `/v1/admin/…`: only tokens with the admin claim may read it; it shows every node of a cluster, the
 * docs each has loaded with their connections and replicas, the replication backlog and the webhook
 * outbox.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { SignJWT } from 'jose'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { startTestServer, wsUrl } from '../support/servers.js'
import { eventually } from '../support/wait.js'

async function adminToken(admin: unknown = true): Promise<string> {
  return new SignJWT({ murmur: { admin, docs: { '*': 'write' } } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('operator')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(AUTH_SECRET))
}

interface AdminDocShape {
  docId: string
  connections: number
  replicas: string[]
}
interface ClusterShape {
  self: string
  nodes: { id: string; state: string; view: { id: string; docs: AdminDocShape[]; replication: unknown; webhookOutbox: unknown } | null }[]
}

describe('/v1/admin', () => {
  it('refuses tokens without the admin claim (403), and requests without a token (401)', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    for (const path of ['/v1/admin/node', '/v1/admin/cluster']) {
      expect((await fetch(`${server.url}${path}`)).status).toBe(401)
      const writer = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${await token({ '*': 'write' })}` } })
      expect(writer.status).toBe(403)
      expect(((await writer.json()) as { code: string }).code).toBe('MUR_ERR_FORBIDDEN')
      const notTrue = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${await adminToken('yes')}` } })
      expect(notTrue.status).toBe(403)
      const admin = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${await adminToken()}` } })
      expect(admin.status).toBe(200)
    }
  })

  it('shows the three nodes, the docs each serves with connections and replicas, and the outbox', async () => {
    const nodes = await startCluster(3, { authSecret: AUTH_SECRET, replicationFactor: 2, webhookUrl: 'http://127.0.0.1:9/hook', webhookSecret: 'hook-secret', webhookRetryMs: 60_000 })
    await untilMeshed(nodes)
    const admin = await adminToken()
    // A client on node b holds doc "plan" open.
    const ws = new WebSocket(wsUrl(nodes[1].url, `/yjs/plan?token=${admin}`))
    onTestFinished(() => ws.terminate())
    await new Promise((resolve) => ws.once('message', resolve))

    let seen: ClusterShape | null = null
    await eventually(
      async () => {
        const res = await fetch(`${nodes[0].url}/v1/admin/cluster`, { headers: { authorization: `Bearer ${admin}` } })
        seen = (await res.json()) as ClusterShape
        return seen.nodes.length === 3 && seen.nodes.every((n) => n.state === 'alive' && n.view !== null)
      },
      10_000,
      'every node answering',
    )
    const view = seen as unknown as ClusterShape
    expect(view.self).toBe('node-a')
    expect(view.nodes.map((n) => n.id).sort()).toEqual(['node-a', 'node-b', 'node-c'])
    const b = view.nodes.find((n) => n.id === 'node-b')?.view
    const plan = b?.docs.find((d) => d.docId === 'plan')
    expect(plan?.connections).toBe(1)
    expect(plan?.replicas).toHaveLength(2)
    expect(b?.replication).toMatchObject({ hintsPending: expect.any(Number) as unknown as number, hintsByPeer: {} })
    expect(b?.webhookOutbox).toMatchObject({ pending: expect.any(Number) as unknown as number })
  })
})
