import type { FastifyInstance } from 'fastify'
import { ErrorCode, MurmurError, isDocId, isEngineName, type DocId } from '@murmur/shared'
import type { DocRegistry } from '../docs/registry.js'

/** Read access to docs over HTTP: the content as JSON and the version digest. */
export function registerDocRoutes(http: FastifyInstance, registry: DocRegistry): void {
  http.get<{ Params: { engine: string; docId: string } }>(
    '/v1/docs/:engine/:docId',
    {
      schema: {
        params: {
          type: 'object',
          properties: { engine: { type: 'string', maxLength: 32 }, docId: { type: 'string', minLength: 1, maxLength: 1024 } },
          required: ['engine', 'docId'],
        },
      },
    },
    async (req, reply) => {
      const { engine, docId } = req.params
      if (!isEngineName(engine)) return reply.code(404).send({ code: ErrorCode.UNKNOWN_ENGINE, message: `unknown engine ${engine.slice(0, 32)}` })
      if (!isDocId(docId)) return reply.code(400).send({ code: ErrorCode.INVALID_DOC_ID, message: 'invalid doc id' })
      try {
        const doc = await registry.get({ engine, docId: docId as DocId })
        return { engine, docId, version: doc.doc.version(), content: doc.doc.toJSON() }
      } catch (err) {
        const code = err instanceof MurmurError ? err.code : ErrorCode.INTERNAL
        return reply.code(code === ErrorCode.LOAD_FAILED ? 503 : 500).send({ code, message: 'the doc could not be read' })
      }
    },
  )
}
