import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { EngineName } from '@murmur/shared'
import { tokenFromRequest, type Authenticator, type Identity } from '../auth/auth.js'
import type { AccessNeed } from '../auth/claims.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent a `/v1/` request (set before its handler runs). */
    identity: Identity | null
  }
}

/**
 * Every `/v1/` request authenticates with `Authorization: Bearer <token>` (or `?token=`), exactly as the
 * WebSocket endpoints do; handlers then ask `requireAccess` for the doc they touch.
 */
export function registerHttpAuth(http: FastifyInstance, auth: Authenticator): void {
  http.decorateRequest('identity', null)
  http.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/v1/')) return
    req.identity = await auth.authenticate(tokenFromRequest(req.headers, new URL(req.url, 'http://localhost')))
  })
}

/** Throws UNAUTHORIZED or FORBIDDEN unless the request's identity may do `need` on the doc. */
export function requireAccess(auth: Authenticator, req: FastifyRequest, engine: EngineName, docId: string, need: AccessNeed): void {
  if (req.identity === null) throw new TypeError('requireAccess on a route outside /v1/')
  auth.require(req.identity, engine, docId, need)
}
