import http from 'node:http'
import type { IncomingMessage } from 'node:http'
import { WebSocketServer } from 'ws'
import { childOptions, runChild } from './child.js'

/**
 * y-websocket's reference server, wired as its own `server.js` does. Persistence is its built-in
 * y-leveldb one, switched on by the YPERSISTENCE environment variable (read when the module loads).
 */
const options = childOptions<{ port?: number; persistenceDir?: string }>()
if (options.persistenceDir !== undefined) process.env.YPERSISTENCE = options.persistenceDir

void runChild(async () => {
  const { setupWSConnection, getPersistence } = await import('@y/websocket-server/utils')
  const wss = new WebSocketServer({ noServer: true })
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' })
    res.end('okay')
  })
  wss.on('connection', (ws, req: IncomingMessage) => setupWSConnection(ws, req))
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const persistence = getPersistence() as { provider?: { destroy(): Promise<void> } } | null
  return {
    server: {
      port,
      async close() {
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        await new Promise<void>((resolve) => server.close(() => resolve()))
        // Waits for queued LevelDB writes before closing the store.
        await persistence?.provider?.destroy()
      },
    },
    description: persistence !== null ? `y-leveldb in ${options.persistenceDir ?? '?'}` : 'none (memory only)',
  }
})
