import type { FastifyInstance } from 'fastify'
import { ErrorCode, MurmurError } from '@murmur/shared'
import { MAX_REVOKED_VALUE, type RevocationEntry, type RevocationKind, type Revocations } from '../auth/revocations.js'
import { requireAdmin } from './admin.js'

/** A revocation as the routes show it. */
export interface RevocationView {
  readonly jti?: string
  readonly sub?: string
  readonly revokedAt: string
  /** When it ends by itself; null: when lifted. */
  readonly expiresAt: string | null
}

function view(e: RevocationEntry): RevocationView {
  return { [e.kind]: e.value, revokedAt: new Date(e.at).toISOString(), expiresAt: e.expiresAt === null ? null : new Date(e.expiresAt).toISOString() }
}

function bad(message: string): MurmurError {
  return new MurmurError(ErrorCode.MALFORMED_MESSAGE, message)
}

/** The one token (`jti`) or subject (`sub`) a request names. */
function named(fields: Record<string, unknown>): { kind: RevocationKind; value: string } {
  const given = (['jti', 'sub'] as const).filter((k) => fields[k] !== undefined)
  if (given.length !== 1) throw bad('name exactly one of "jti" (a token) or "sub" (every token of a subject)')
  const kind = given[0]
  const value = fields[kind]
  if (typeof value !== 'string' || value === '' || value.length > MAX_REVOKED_VALUE) throw bad(`"${kind}" must be a string of 1 to ${MAX_REVOKED_VALUE} characters`)
  return { kind, value }
}

function expiry(value: unknown): number | null {
  if (value === undefined || value === null) return null
  const at = typeof value === 'string' ? Date.parse(value) : NaN
  if (!Number.isFinite(at)) throw bad('"expiresAt" must be a date and time (ISO 8601), e.g. "2030-01-01T00:00:00Z"')
  if (at <= Date.now()) throw bad('"expiresAt" lies in the past')
  return at
}

/**
 * `/v1/admin/revocations`: list (`GET`), revoke (`POST { "jti" | "sub", "expiresAt"? }`) and lift
 * (`DELETE ?jti=… | ?sub=…`) token revocations. Admin tokens only. A change is kept where the node keeps
 * its revocations (`Revocations`), closes the live connections of the tokens it revokes, and reaches
 * every other node of a cluster over the peer links.
 */
export function registerRevocationRoutes(http: FastifyInstance, revocations: Revocations): void {
  const persisted = (): boolean => revocations.file !== null

  http.get('/v1/admin/revocations', async (req) => {
    requireAdmin(req)
    return { revocations: revocations.list().map(view), persisted: persisted() }
  })

  http.post('/v1/admin/revocations', async (req, reply) => {
    requireAdmin(req)
    const body = req.body
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('send a JSON object: { "jti": "…" } or { "sub": "…" }, with an optional "expiresAt"')
    const fields = body as Record<string, unknown>
    const unknown = Object.keys(fields).filter((k) => k !== 'jti' && k !== 'sub' && k !== 'expiresAt')
    if (unknown.length > 0) throw bad(`unknown field "${unknown[0]}": expected "jti" or "sub", and "expiresAt"`)
    const { kind, value } = named(fields)
    const entry = revocations.revoke(kind, value, expiry(fields.expiresAt))
    return reply.code(201).send({ revocation: view(entry), persisted: persisted() })
  })

  http.delete('/v1/admin/revocations', async (req) => {
    requireAdmin(req)
    const query = Object.fromEntries(new URL(req.url, 'http://localhost').searchParams)
    const { kind, value } = named({ jti: query.jti, sub: query.sub })
    return { lifted: revocations.lift(kind, value), persisted: persisted() }
  })
}
