import type { FastifyInstance } from 'fastify'

/** The HTTP API's paths that web apps call from their own origin (the SDK's `client.versions()`). */
const API_PREFIX = '/v1/docs/'

/**
 * Cross-origin access to the doc API for browser apps served from another origin than the node. Requests
 * carry a bearer token, never cookies, so any origin may call: the token, not the origin, decides what a
 * caller may do. A preflight is answered here, before the auth hook (it carries no token).
 */
export function registerCors(http: FastifyInstance): void {
  http.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith(API_PREFIX)) return
    reply.header('access-control-allow-origin', '*')
    if (req.method !== 'OPTIONS') return
    return reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST, DELETE')
      .header('access-control-allow-headers', 'authorization, content-type')
      .header('access-control-max-age', '600')
      .send()
  })
}
