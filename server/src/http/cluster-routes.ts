import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { asNodeId } from '@murmur/shared'
import type { Cluster } from '../cluster/cluster.js'

export interface ClusterRouteDeps {
  /** The node's cluster part once started; null on a single node. */
  cluster(): Cluster | null
  /** How a single node describes itself. */
  single(): unknown
  readonly clusterSecret: string | null
  /** The secret being rotated out, accepted as well until it is removed. */
  readonly clusterSecretPrevious?: string | null
}

function secretMatches(expected: string | null, given: unknown): boolean {
  if (expected === null || typeof given !== 'string') return false
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** GET /v1/cluster (membership, replication and anti-entropy state) and the operator's decommission. */
export function registerClusterRoutes(http: FastifyInstance, deps: ClusterRouteDeps): void {
  http.get('/v1/cluster', async () => deps.cluster()?.describe() ?? deps.single())

  http.post<{ Params: { id: string } }>(
    '/v1/cluster/members/:id/decommission',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['id'] } } },
    async (req, reply) => {
      const cluster = deps.cluster()
      if (cluster === null) return reply.code(404).send({ code: 'MUR_ERR_NOT_CLUSTERED', message: 'this node is not in a cluster' })
      // Decommissioning moves data ownership for good: only holders of the cluster secret may do it.
      const given = req.headers['x-murmur-cluster-secret']
      if (!secretMatches(deps.clusterSecret, given) && !secretMatches(deps.clusterSecretPrevious ?? null, given)) {
        return reply.code(401).send({ code: 'MUR_ERR_UNAUTHORIZED', message: 'x-murmur-cluster-secret is missing or wrong' })
      }
      const ok = cluster.membership.decommission(asNodeId(req.params.id))
      if (!ok) return reply.code(404).send({ code: 'MUR_ERR_UNKNOWN_MEMBER', message: `no member ${req.params.id}` })
      return { decommissioned: req.params.id }
    },
  )
}
