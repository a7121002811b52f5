import { WebSocketServer } from 'ws'
import { Repo, type PeerId } from '@automerge/automerge-repo'
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket'
import { childOptions, runChild } from './child.js'

/**
 * automerge-repo's sync server setup: a Repo with the NodeWS server adapter, sharing every doc. No
 * storage adapter package is installed, so docs live in memory only.
 */
const options = childOptions<{ port?: number }>()

void runChild(async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const address = wss.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const repo = new Repo({
    network: [new NodeWSServerAdapter(wss as never)],
    peerId: `bench-sync-server` as PeerId,
    sharePolicy: async () => true,
  })
  return {
    server: {
      port,
      async close() {
        await repo.shutdown()
        for (const ws of wss.clients) ws.terminate()
        await new Promise<void>((resolve) => wss.close(() => resolve()))
      },
    },
    description: 'none (no storage adapter installed); in memory only',
  }
})
