import type { ServerOptions } from 'node:http'
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { ServerConfig } from '../config.js'

/**
 * Route params are read up to this length, so that every doc id reaches the one doc-id check
 * (`requireDocId`) instead of a router's 414: the longest id, percent-encoded 4-byte characters, is 3 KiB.
 */
export const MAX_URL_PARAM_LENGTH = 16 * 1024

/** One line per request, at debug: at info a busy node would log every request twice. */
export class DebugRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = { method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.debug(line, 'request completed')
  }
}

/**
 * Timeouts of the HTTP server, which also hold every WebSocket until its upgrade request is whole: a
 * connection that has not sent its request headers within `upgradeTimeoutMs` is closed (408), checked
 * every second rather than Node's default 30 s.
 */
export function edgeServerOptions(config: Pick<ServerConfig, 'upgradeTimeoutMs'>): { http: ServerOptions } {
  const timeout = Math.max(1, config.upgradeTimeoutMs)
  return { http: { headersTimeout: timeout, connectionsCheckingInterval: Math.min(1000, timeout) } }
}

/** Count the connections the upgrade timeout closed (Node answers them with 408 itself). */
export function countUpgradeTimeouts(http: FastifyInstance, limitHit: (limit: string) => void): void {
  http.server.on('clientError', (err: Error & { code?: string }) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') limitHit('upgrade-timeout-ms')
  })
}
