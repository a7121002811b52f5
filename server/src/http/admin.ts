import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ErrorCode, MurmurError } from '@murmur/shared'
import type { Cluster } from '../cluster/cluster.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Outbox } from '../storage/storage.js'

export interface AdminRouteDeps {
  readonly registry: DocRegistry
  readonly storage: Pick<Outbox, 'outboxCount'>
  /** Webhooks are configured (so the outbox is in use). */
  readonly webhooks: boolean
  nodeId(): string
  selfUrl(): string
  ready(): boolean
  storageFailure(): Error | null
  cluster(): Cluster | null
}

/** Most docs one node lists (the busiest first); `docsLoaded` still counts them all. */
export const ADMIN_MAX_DOCS = 500

/** How long `/v1/admin/cluster` waits for each other node's answer. */
const PEER_TIMEOUT_MS = 2000

/** One loaded doc as the admin view shows it. */
export interface AdminDoc {
  readonly engine: string
  readonly docId: string
  /** Subscribers on this node: client sockets (every endpoint). */
  readonly connections: number
  /** The nodes that replicate it (this node alone on a single node). */
  readonly replicas: readonly string[]
  readonly hibernating: boolean
  /** Updates and bytes in its log since the last snapshot. */
  readonly unsnapshotted: { readonly updates: number; readonly bytes: number }
}

/** What `GET /v1/admin/node` answers: this node's state. */
export interface AdminNodeState {
  readonly id: string
  readonly url: string
  readonly ready: boolean
  readonly storageFailure: string | null
  readonly docsLoaded: number
  readonly docs: readonly AdminDoc[]
  readonly replication: {
    /** Docs waiting in hints, by the peer they wait for. */
    readonly hintsByPeer: Record<string, number>
    /** Bytes queued on the link to each peer. */
    readonly queuedBytesByPeer: Record<string, number>
    readonly hintsPending: number
    readonly pushes: number
    readonly pushesDropped: number
  } | null
  /** The webhook outbox: events not yet delivered; null without webhooks. */
  readonly webhookOutbox: { readonly pending: number | null } | null
}

/** Throws FORBIDDEN unless the request's token carries the admin claim. */
export function requireAdmin(req: FastifyRequest): void {
  if (req.identity === null) throw new TypeError('requireAdmin on a route outside /v1/')
  if (!req.identity.admin) throw new MurmurError(ErrorCode.FORBIDDEN, 'the admin routes need a token with "murmur": { "admin": true }')
}

/**
 * `GET /v1/admin/node` (this node) and `GET /v1/admin/cluster` (every member, each asked over HTTP with
 * the caller's token): what an operator's dashboard shows. Admin tokens only.
 */
export function registerAdminRoutes(http: FastifyInstance, deps: AdminRouteDeps): void {
  http.get('/v1/admin/node', async (req) => {
    requireAdmin(req)
    return await nodeState(deps)
  })

  http.get('/v1/admin/cluster', async (req) => {
    requireAdmin(req)
    const self = await nodeState(deps)
    const cluster = deps.cluster()
    if (cluster === null) return { self: self.id, nodes: [{ id: self.id, url: self.url, state: 'alive', view: self }] }
    const authorization = req.headers.authorization ?? null
    const token = new URL(req.url, 'http://localhost').searchParams.get('token')
    const nodes = await Promise.all(
      cluster.membership.members().map(async (m) => {
        const base = { id: m.id as string, url: m.url, state: m.state }
        if (m.id === self.id) return { ...base, view: self }
        if (m.state === 'dead' || m.state === 'left') return { ...base, view: null, error: `the node is ${m.state}` }
        try {
          return { ...base, view: await askNode(m.url, authorization, token) }
        } catch (err) {
          return { ...base, view: null, error: (err as Error).message }
        }
      }),
    )
    return { self: self.id, nodes }
  })
}

/** This node's state (the outbox count is a storage read). */
async function nodeState(deps: AdminRouteDeps): Promise<AdminNodeState> {
  const cluster = deps.cluster()
  const docs = deps.registry
    .loadedDocs()
    .sort((a, b) => b.subscribers.size - a.subscribers.size)
    .slice(0, ADMIN_MAX_DOCS)
    .map(
      (d): AdminDoc => ({
        engine: d.key.engine,
        docId: d.key.docId,
        connections: d.subscribers.size,
        replicas: cluster === null ? [deps.nodeId()] : [...cluster.replication.replicasOfDoc(d.key)],
        hibernating: d.doc.hibernating === true,
        unsnapshotted: d.unsnapshotted,
      }),
    )
  const failure = deps.storageFailure()
  return {
    id: deps.nodeId(),
    url: deps.selfUrl(),
    ready: deps.ready(),
    storageFailure: failure === null ? null : failure.message,
    docsLoaded: deps.registry.loadedCount,
    docs,
    replication:
      cluster === null
        ? null
        : {
            hintsByPeer: cluster.hints.counts(),
            queuedBytesByPeer: cluster.links.queuedBytes(),
            hintsPending: cluster.hints.count,
            pushes: cluster.replication.stats.pushes,
            pushesDropped: cluster.replication.stats.pushesDropped,
          },
    webhookOutbox: deps.webhooks ? { pending: await deps.storage.outboxCount().catch(() => null) } : null,
  }
}

/** Another node's `/v1/admin/node`, asked with the caller's own token. */
async function askNode(wsUrl: string, authorization: string | null, token: string | null): Promise<AdminNodeState> {
  const url = new URL('/v1/admin/node', wsUrl.replace(/^ws/u, 'http'))
  if (token !== null && authorization === null) url.searchParams.set('token', token)
  const res = await fetch(url, {
    headers: authorization === null ? {} : { authorization },
    signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
  })
  if (!res.ok) throw new Error(`${url.host} answered ${res.status}`)
  return (await res.json()) as AdminNodeState
}
