import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ErrorCode, MurmurError, isDocId, isEngineName, type DocId } from '@murmur/shared'
import { principalOf, type Authenticator } from '../auth/auth.js'
import type { AccessNeed } from '../auth/claims.js'
import type { DocKey, Tombstones, VersionInfo } from '../storage/storage.js'
import { MAX_VERSION_NAME, type DocVersions } from '../versions/doc-versions.js'
import { requireAccess } from './auth.js'

export interface VersionRoutesDeps {
  readonly versions: DocVersions
  readonly storage: Pick<Tombstones, 'tombstoneOf'>
  readonly auth: Authenticator
}

const docParams = {
  engine: { type: 'string', maxLength: 32 },
  docId: { type: 'string', minLength: 1, maxLength: 1024 },
} as const

const versionParams = {
  type: 'object',
  properties: { ...docParams, version: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['engine', 'docId', 'version'],
  additionalProperties: false,
} as const

const tokenOnly = { type: 'object', properties: { token: { type: 'string' } }, additionalProperties: false } as const

interface DocParams {
  engine: string
  docId: string
}
interface VersionParams extends DocParams {
  version: string
}

/** A version as the API shows it. */
export function versionJson(v: VersionInfo): Record<string, unknown> {
  return { id: v.id, name: v.name, kind: v.kind, principal: v.principal, at: new Date(v.at).toISOString(), seq: v.seq, bytes: v.bytes }
}

/**
 * Version history under `/v1/docs/:engine/:docId/versions`: make (named), list, read as JSON, compare,
 * restore, delete, and who wrote each text span. Reading needs read rights; making, restoring and
 * deleting need write rights.
 */
export function registerVersionRoutes(http: FastifyInstance, deps: VersionRoutesDeps): void {
  const { versions, auth } = deps

  /** The doc the params name, once the caller may `need` it and it was not deleted. */
  async function docFor(req: FastifyRequest, params: DocParams, need: AccessNeed): Promise<DocKey> {
    if (!isEngineName(params.engine)) throw new MurmurError(ErrorCode.UNKNOWN_ENGINE, `unknown engine ${params.engine.slice(0, 32)}`)
    if (!isDocId(params.docId)) throw new MurmurError(ErrorCode.INVALID_DOC_ID, 'invalid doc id')
    const key: DocKey = { engine: params.engine, docId: params.docId as DocId }
    requireAccess(auth, req, key.engine, key.docId, need)
    if ((await deps.storage.tombstoneOf(key)) !== null) throw new MurmurError(ErrorCode.DOC_DELETED, `${key.engine}:${key.docId} was deleted`)
    return key
  }

  http.post<{ Params: DocParams; Body: { name: string } }>(
    '/v1/docs/:engine/:docId/versions',
    {
      schema: {
        params: { type: 'object', properties: docParams, required: ['engine', 'docId'], additionalProperties: false },
        querystring: tokenOnly,
        body: {
          type: 'object',
          properties: { name: { type: 'string', minLength: 1, maxLength: MAX_VERSION_NAME } },
          required: ['name'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const key = await docFor(req, req.params, 'write')
      const version = await versions.create(key, { name: req.body.name, kind: 'named', principal: principalOf(req.identity) })
      return reply.code(201).send({ engine: key.engine, docId: key.docId, version: versionJson(version) })
    },
  )

  http.get<{ Params: DocParams }>(
    '/v1/docs/:engine/:docId/versions',
    { schema: { params: { type: 'object', properties: docParams, required: ['engine', 'docId'], additionalProperties: false }, querystring: tokenOnly } },
    async (req) => {
      const key = await docFor(req, req.params, 'read')
      return { engine: key.engine, docId: key.docId, versions: (await versions.list(key)).map(versionJson) }
    },
  )

  http.get<{ Params: VersionParams }>('/v1/docs/:engine/:docId/versions/:version', { schema: { params: versionParams, querystring: tokenOnly } }, async (req) => {
    const key = await docFor(req, req.params, 'read')
    const { version, content } = await versions.content(key, req.params.version)
    return { engine: key.engine, docId: key.docId, version: versionJson(version), content }
  })

  http.get<{ Params: VersionParams; Querystring: { to?: string } }>(
    '/v1/docs/:engine/:docId/versions/:version/diff',
    {
      schema: {
        params: versionParams,
        querystring: { type: 'object', properties: { to: { type: 'string', minLength: 1, maxLength: 64 }, token: { type: 'string' } }, additionalProperties: false },
      },
    },
    async (req) => {
      const key = await docFor(req, req.params, 'read')
      const diff = await versions.diff(key, req.params.version, req.query.to ?? 'current')
      return {
        engine: key.engine,
        docId: key.docId,
        from: diff.from && versionJson(diff.from),
        to: diff.to && versionJson(diff.to),
        principals: diff.principals,
        changes: diff.changes,
        content: diff.content,
        texts: diff.texts,
      }
    },
  )

  http.get<{ Params: VersionParams; Querystring: { field: string } }>(
    '/v1/docs/:engine/:docId/versions/:version/authors',
    {
      schema: {
        params: versionParams,
        querystring: {
          type: 'object',
          properties: { field: { type: 'string', minLength: 1, maxLength: 256 }, token: { type: 'string' } },
          required: ['field'],
          additionalProperties: false,
        },
      },
    },
    async (req) => {
      const key = await docFor(req, req.params, 'read')
      const spans = await versions.authors(key, req.params.version, req.query.field)
      if (spans === null) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `the ${key.engine} engine does not attribute text spans`)
      return { engine: key.engine, docId: key.docId, field: req.query.field, spans }
    },
  )

  http.post<{ Params: VersionParams }>(
    '/v1/docs/:engine/:docId/versions/:version/restore',
    { schema: { params: versionParams, querystring: tokenOnly } },
    async (req) => {
      const key = await docFor(req, req.params, 'write')
      const result = await versions.restore(key, req.params.version, principalOf(req.identity))
      return { engine: key.engine, docId: key.docId, restored: versionJson(result.restored), before: versionJson(result.before), changed: result.changed }
    },
  )

  http.delete<{ Params: VersionParams }>('/v1/docs/:engine/:docId/versions/:version', { schema: { params: versionParams, querystring: tokenOnly } }, async (req) => {
    const key = await docFor(req, req.params, 'write')
    await versions.delete(key, req.params.version)
    return { engine: key.engine, docId: key.docId, id: req.params.version, deleted: true }
  })
}
