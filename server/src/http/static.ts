import { existsSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'

/**
 * The files of `--static-dir` (the demo app), with `index.html` for every other GET outside `/v1/`
 * (client-side routes). Nothing is registered without a folder.
 */
export async function registerStaticFiles(http: FastifyInstance, dir: string | null): Promise<void> {
  if (dir === null || !existsSync(dir)) return
  // Loaded only when there is a folder to serve, like the cluster's modules: a node starts faster.
  const { default: fastifyStatic } = await import('@fastify/static')
  await http.register(fastifyStatic, { root: dir, wildcard: false })
  http.setNotFoundHandler((req, reply) => {
    if (req.method === 'GET' && !req.url.startsWith('/v1/')) return reply.sendFile('index.html')
    return reply.code(404).send({ error: 'not found' })
  })
}
