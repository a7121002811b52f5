import type { FastifyInstance } from 'fastify'
import type { DocRegistry } from '../docs/registry.js'

/** Liveness and readiness. Ready means storage is open and the node accepts sockets. */
export function registerHealthRoutes(http: FastifyInstance, deps: { isReady: () => boolean; registry: DocRegistry }): void {
  http.get('/healthz', async () => ({ status: 'ok' }))
  http.get('/readyz', async (_req, reply) => {
    if (!deps.isReady()) return reply.code(503).send({ status: 'starting' })
    return { status: 'ready', docsLoaded: deps.registry.loadedCount }
  })
}
