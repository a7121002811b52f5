import Fastify, { type FastifyInstance } from 'fastify'
import { DebugRequestLog, MAX_URL_PARAM_LENGTH, countUpgradeTimeouts, edgeServerOptions } from '../http/edge.js'
import rateLimit from '@fastify/rate-limit'
import { registerHttpAuth } from '../http/auth.js'
import { registerCors } from '../http/cors.js'
import { registerErrorHandler } from '../http/errors.js'
import type { NodeContext } from './node-context.js'

/** One row of the edge table for HTTP: a group of routes and the function that registers them. */
export interface HttpRoutes<C> {
  /** The routes, as the docs write them. */
  readonly paths: string
  /** Registered ahead of the rate limit (health checks and metrics must answer a node under load). */
  readonly beforeRateLimit?: boolean
  register(http: FastifyInstance, context: C): void | Promise<void>
}

/**
 * The node's HTTP server: the error mapping, then the rows that come before the rate limit, the rate
 * limit, cross-origin access to the doc API, the auth hook of `/v1/` (it asks the node's authenticator),
 * and the other rows in order.
 */
export async function createHttp(
  routes: readonly HttpRoutes<NodeContext>[],
  node: NodeContext,
  tls: { readonly cert: Buffer; readonly key: Buffer } | null = null,
): Promise<FastifyInstance> {
  const { config } = node
  const edge = edgeServerOptions(config)
  const http = Fastify({
    loggerInstance: node.log,
    bodyLimit: config.maxFrameBytes,
    logController: new DebugRequestLog(),
    routerOptions: { maxParamLength: MAX_URL_PARAM_LENGTH },
    ...edge,
    // With a certificate the node serves HTTPS (and WSS) on its port; the edge's timeouts apply the same.
    ...(tls === null ? {} : { https: { ...edge.http, cert: tls.cert, key: tls.key } }),
  })
  countUpgradeTimeouts(http, (limit) => node.metrics.limitHit(limit))
  registerErrorHandler(http, (code) => node.metrics.error(code))
  for (const row of routes) if (row.beforeRateLimit === true) await row.register(http, node)
  if (config.httpRequestsPerMinute > 0) {
    await http.register(rateLimit, { global: true, max: config.httpRequestsPerMinute, timeWindow: 60_000 })
  }
  registerCors(http)
  registerHttpAuth(http, node.auth)
  for (const row of routes) if (row.beforeRateLimit !== true) await row.register(http, node)
  return http
}
