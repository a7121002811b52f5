import { Server } from '@hocuspocus/server'
import { childOptions, runChild } from './child.js'

/** Hocuspocus with no extensions: its persistence extensions are not installed, so docs live in memory. */
const options = childOptions<{ port?: number }>()

void runChild(async () => {
  const server = new Server({ port: options.port ?? 0, address: '127.0.0.1', quiet: true, stopOnSignals: false })
  await server.listen()
  const address = server.httpServer.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { server: { port, close: () => server.destroy() }, description: 'none (memory only)' }
})
