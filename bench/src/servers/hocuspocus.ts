import path from 'node:path'
import { Server, type Extension } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'
import { Redis } from '@hocuspocus/extension-redis'
import { childOptions, runChild } from './child.js'

/**
 * Hocuspocus 4 with its SQLite persistence extension: each doc is written whole to one SQLite file, the
 * extension's default 2 s after the last change (at most 10 s apart while changes keep coming). With
 * `redis`, the node is one of several behind Hocuspocus's Redis extension (its multi-server setup): the
 * nodes relay updates and awareness through Redis pub/sub and take a Redis lock before storing.
 */
const options = childOptions<{ port?: number; dataDir?: string; redis?: { host: string; port: number; identifier: string; prefix: string } }>()

void runChild(async () => {
  const database = options.dataDir === undefined ? ':memory:' : path.join(options.dataDir, 'hocuspocus.sqlite')
  const extensions: Extension[] = [new SQLite({ database })]
  // The Redis extension asks for a higher priority than the store, so it goes first.
  if (options.redis !== undefined) extensions.unshift(new Redis(options.redis))
  const server = new Server({ port: options.port ?? 0, address: '127.0.0.1', quiet: true, stopOnSignals: false, extensions })
  await server.listen()
  const address = server.httpServer.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const via = options.redis === undefined ? '' : `; Redis ${options.redis.host}:${options.redis.port} as ${options.redis.identifier}`
  return { server: { port, close: () => server.destroy() }, description: `SQLite (extension-sqlite) at ${database}${via}` }
})
