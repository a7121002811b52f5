import path from 'node:path'
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'
import { childOptions, runChild } from './child.js'

/**
 * Hocuspocus 4 with its SQLite persistence extension: each doc is written whole to one SQLite file, the
 * extension's default 2 s after the last change (at most 10 s apart while changes keep coming).
 */
const options = childOptions<{ port?: number; dataDir?: string }>()

void runChild(async () => {
  const database = options.dataDir === undefined ? ':memory:' : path.join(options.dataDir, 'hocuspocus.sqlite')
  const server = new Server({ port: options.port ?? 0, address: '127.0.0.1', quiet: true, stopOnSignals: false, extensions: [new SQLite({ database })] })
  await server.listen()
  const address = server.httpServer.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { server: { port, close: () => server.destroy() }, description: `SQLite (extension-sqlite) at ${database}` }
})
