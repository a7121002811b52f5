import type { FastifyInstance } from 'fastify'
import { ErrorCode, MurmurError, engineNames, getEngine, isEngineName, requireDocId, type DocId, type EngineName } from '@murmur/shared'
import { principalOf, type Authenticator } from '../auth/auth.js'
import type { DocRegistry } from '../docs/registry.js'
import type { DocArchive, DocKey, DocLog, Tombstones } from '../storage/storage.js'
import { requireAccess } from './auth.js'

export interface DocRoutesDeps {
  readonly registry: DocRegistry
  /** The routes list docs, read their past and check tombstones; writes go through the registry. */
  readonly storage: Pick<DocLog, 'list'> & DocArchive & Pick<Tombstones, 'tombstoneOf'>
  readonly auth: Authenticator
  /**
   * A doc was deleted here (its tombstone is durable): the cluster tells the other nodes, which apply
   * it with `DocRegistry.delete`.
   */
  readonly announceDelete: (key: DocKey, deletedAt: number) => void
  /** A doc was deleted through the API (webhooks announce it). */
  readonly onDeleted: (key: DocKey, deletedAt: number) => void
}

/** The origin of changes made through the HTTP API: delivered to every subscriber, announced by webhooks. */
export const HTTP_ORIGIN = Symbol('murmur:http')

/** Largest page of `GET /v1/docs` and of a history listing. */
const MAX_PAGE = 1000

const docParams = {
  type: 'object',
  properties: { engine: { type: 'string', maxLength: 32 }, docId: { type: 'string' } },
  required: ['engine', 'docId'],
  additionalProperties: false,
} as const

const errorBody = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const

const docKeyBody = {
  type: 'object',
  properties: { engine: { type: 'string' }, docId: { type: 'string' } },
  required: ['engine', 'docId'],
} as const

/** The doc a route's params name; unknown engines and invalid ids are refused with their codes. */
function docKey(params: { engine: string; docId: string }): DocKey {
  if (!isEngineName(params.engine)) throw new MurmurError(ErrorCode.UNKNOWN_ENGINE, `unknown engine ${params.engine.slice(0, 32)}`)
  return { engine: params.engine, docId: requireDocId(params.docId) }
}

/** `after` cursors of `GET /v1/docs` are `<engine>:<docId>` of the last doc of the previous page. */
function parseCursor(after: string | undefined): DocKey | null {
  if (after === undefined || after === '') return null
  const colon = after.indexOf(':')
  const engine = after.slice(0, colon)
  if (colon < 0 || !isEngineName(engine)) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'after must be a cursor from a previous page (<engine>:<docId>)')
  return { engine, docId: after.slice(colon + 1) as DocId }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

/**
 * The doc API under `/v1/docs`: list, read (JSON and binary state), apply an update, history and
 * content at a seq, delete. Every route checks the caller's token for the doc it touches.
 */
export function registerDocRoutes(http: FastifyInstance, deps: DocRoutesDeps): void {
  const { registry, storage, auth } = deps

  // Update bodies are engine bytes, taken as they come (up to the node's body limit).
  http.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  http.get<{ Querystring: { engine?: EngineName; after?: string; limit?: number } }>(
    '/v1/docs',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            engine: { type: 'string', enum: engineNames() },
            after: { type: 'string', maxLength: 2048 },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
            token: { type: 'string' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { docs: { type: 'array', items: docKeyBody }, next: { type: ['string', 'null'] } },
            required: ['docs', 'next'],
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100
      const engine = req.query.engine
      let cursor = parseCursor(req.query.after)
      const docs: DocKey[] = []
      // Docs the token may not read are skipped. The scan is bounded; `next` resumes where it stopped.
      const maxScan = limit * 10 + 1000
      let scanned = 0
      let more = true
      while (docs.length < limit && scanned < maxScan) {
        const want = Math.min(limit, maxScan - scanned)
        const page = await storage.list({ engine, after: cursor?.docId, afterEngine: engine === undefined ? cursor?.engine : undefined, limit: want })
        scanned += page.length
        let stoppedEarly = false
        for (let i = 0; i < page.length; i++) {
          cursor = page[i]
          if (req.identity !== null && auth.authorize(req.identity, cursor.engine, cursor.docId, 'read')) docs.push(cursor)
          if (docs.length === limit) {
            stoppedEarly = i < page.length - 1
            break
          }
        }
        if (page.length < want) {
          more = stoppedEarly
          break
        }
      }
      const next = more && cursor !== null ? `${cursor.engine}:${cursor.docId}` : null
      return { docs: docs.map((k) => ({ engine: k.engine, docId: k.docId })), next }
    },
  )

  http.get<{ Params: { engine: string; docId: string } }>('/v1/docs/:engine/:docId', { schema: { params: docParams } }, async (req) => {
    const key = docKey(req.params)
    requireAccess(auth, req, key.engine, key.docId, 'read')
    const doc = await registry.get(key)
    return { engine: key.engine, docId: key.docId, version: doc.doc.version(), content: doc.doc.toJSON() }
  })

  http.get<{ Params: { engine: string; docId: string } }>('/v1/docs/:engine/:docId/state', { schema: { params: docParams } }, async (req, reply) => {
    const key = docKey(req.params)
    requireAccess(auth, req, key.engine, key.docId, 'read')
    const doc = await registry.get(key)
    const state = doc.doc.encodeSnapshot()
    return reply
      .type('application/octet-stream')
      .header('x-murmur-version', doc.doc.version())
      .send(Buffer.from(state.buffer, state.byteOffset, state.byteLength))
  })

  http.post<{ Params: { engine: string; docId: string }; Querystring: { replicas?: number }; Body: Buffer }>(
    '/v1/docs/:engine/:docId/updates',
    {
      schema: {
        params: docParams,
        querystring: {
          type: 'object',
          properties: { replicas: { type: 'integer', minimum: 0, maximum: 64 }, token: { type: 'string' } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { engine: { type: 'string' }, docId: { type: 'string' }, version: { type: 'string' }, changed: { type: 'boolean' } },
            required: ['engine', 'docId', 'version', 'changed'],
          },
          '4xx': errorBody,
          '5xx': errorBody,
        },
      },
    },
    async (req) => {
      const key = docKey(req.params)
      requireAccess(auth, req, key.engine, key.docId, 'write')
      if (!Buffer.isBuffer(req.body)) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'send the update as application/octet-stream')
      const update = new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength)
      const doc = await registry.get(key)
      const before = doc.doc.version()
      // One replica (the default) is this node's own fsync here, even on a node that does not replicate the doc.
      const replicas = req.query.replicas ?? 1
      await doc.apply(update, { from: HTTP_ORIGIN, durability: replicas > 1 ? { replicas } : 'local', by: principalOf(req.identity), via: 'http' })
      const version = doc.doc.version()
      return { engine: key.engine, docId: key.docId, version, changed: version !== before }
    },
  )

  http.get<{ Params: { engine: string; docId: string }; Querystring: { after?: number; limit?: number } }>(
    '/v1/docs/:engine/:docId/history',
    {
      schema: {
        params: docParams,
        querystring: {
          type: 'object',
          properties: {
            after: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: MAX_PAGE },
            token: { type: 'string' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              engine: { type: 'string' },
              docId: { type: 'string' },
              snapshot: {
                type: ['object', 'null'],
                properties: { upToSeq: { type: 'integer' }, bytes: { type: 'integer' }, at: { type: ['string', 'null'] } },
              },
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { seq: { type: 'integer' }, bytes: { type: 'integer' }, at: { type: ['string', 'null'] } },
                },
              },
              lastSeq: { type: 'integer' },
              next: { type: ['integer', 'null'] },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const key = docKey(req.params)
      requireAccess(auth, req, key.engine, key.docId, 'read')
      if ((await storage.tombstoneOf(key)) !== null) throw new MurmurError(ErrorCode.DOC_DELETED, `${key.engine}:${key.docId} was deleted`)
      // What is still waiting for its commit becomes history once it is durable.
      await registry.peek(key)?.whenDurable().catch(() => undefined)
      const limit = req.query.limit ?? MAX_PAGE
      const history = await storage.history(key, { afterSeq: req.query.after, limit })
      if (history === null) return { engine: key.engine, docId: key.docId, snapshot: null, entries: [], lastSeq: 0, next: null }
      const last = history.entries.at(-1)
      return {
        engine: key.engine,
        docId: key.docId,
        snapshot: history.snapshot && { ...history.snapshot, at: iso(history.snapshot.at) },
        entries: history.entries.map((e) => ({ seq: e.seq, bytes: e.bytes, at: iso(e.at) })),
        lastSeq: history.lastSeq,
        next: history.entries.length === limit && last !== undefined ? last.seq : null,
      }
    },
  )

  http.get<{ Params: { engine: string; docId: string; seq: number } }>(
    '/v1/docs/:engine/:docId/history/:seq',
    {
      schema: {
        params: {
          type: 'object',
          properties: { ...docParams.properties, seq: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
          required: ['engine', 'docId', 'seq'],
          additionalProperties: false,
        },
      },
    },
    async (req) => {
      const key = docKey(req.params)
      requireAccess(auth, req, key.engine, key.docId, 'read')
      if ((await storage.tombstoneOf(key)) !== null) throw new MurmurError(ErrorCode.DOC_DELETED, `${key.engine}:${key.docId} was deleted`)
      await registry.peek(key)?.whenDurable().catch(() => undefined)
      // A version past the doc's last entry does not exist (yet): 404, not the latest state under its seq.
      const head = await storage.history(key, { afterSeq: req.params.seq, limit: 1 })
      const lastSeq = head?.lastSeq ?? 0
      if (req.params.seq > lastSeq) throw new MurmurError(ErrorCode.VERSION_NOT_FOUND, `${key.engine}:${key.docId} has no version ${req.params.seq} (its last is ${lastSeq})`)
      const stored = await storage.loadAt(key, req.params.seq)
      const engine = getEngine(key.engine)
      let doc
      try {
        doc = stored === null ? engine.create() : engine.load(stored.snapshot, stored.updates)
      } catch (err) {
        throw new MurmurError(ErrorCode.LOAD_FAILED, 'the stored doc could not be decoded', { cause: err })
      }
      try {
        return { engine: key.engine, docId: key.docId, seq: req.params.seq, version: doc.version(), content: doc.toJSON() }
      } finally {
        doc.destroy()
      }
    },
  )

  http.delete<{ Params: { engine: string; docId: string } }>('/v1/docs/:engine/:docId', { schema: { params: docParams } }, async (req) => {
    const key = docKey(req.params)
    requireAccess(auth, req, key.engine, key.docId, 'write')
    const deletedAt = Date.now()
    await registry.delete(key, deletedAt)
    deps.announceDelete(key, deletedAt)
    deps.onDeleted(key, deletedAt)
    return { engine: key.engine, docId: key.docId, deleted: true, deletedAt: new Date(deletedAt).toISOString() }
  })
}
