import type { FastifyInstance } from 'fastify'
import type { DocRegistry } from '../docs/registry.js'

/**
 * Liveness and readiness. Ready means storage is open and can write, and the node accepts sockets; a
 * store that can no longer write makes the node unhealthy too (it needs a restart).
 */
export function registerHealthRoutes(
  http: FastifyInstance,
  deps: { isReady: () => boolean; storageFailure: () => Error | null; registry: DocRegistry },
): void {
  http.get('/healthz', async (_req, reply) => {
    const failure = deps.storageFailure()
    if (failure !== null) return reply.code(503).send({ status: 'storage-failed', error: failure.message })
    return { status: 'ok' }
  })
  http.get('/readyz', async (_req, reply) => {
    const failure = deps.storageFailure()
    if (failure !== null) return reply.code(503).send({ status: 'storage-failed', error: failure.message })
    if (!deps.isReady()) return reply.code(503).send({ status: 'starting' })
    return { status: 'ready', docsLoaded: deps.registry.loadedCount }
  })
}
