import { WebSocketServer } from 'ws'
import { Repo, type PeerId } from '@automerge/automerge-repo'
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket'
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { childOptions, runChild } from './child.js'

/**
 * automerge-repo's sync server setup: a Repo with the NodeWS server adapter, sharing every doc, stored
 * through automerge-repo's file-system storage adapter in `dataDir` (memory only without one).
 */
const options = childOptions<{ port?: number; dataDir?: string }>()

void runChild(async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const address = wss.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const repo = new Repo({
    network: [new NodeWSServerAdapter(wss as never)],
    storage: options.dataDir === undefined ? undefined : new NodeFSStorageAdapter(options.dataDir),
    peerId: `bench-sync-server` as PeerId,
    sharePolicy: async () => true,
  })
  return {
    server: {
      port,
      async close() {
        // Flushes what the storage subsystem still holds before the process ends.
        await repo.flush()
        await repo.shutdown()
        for (const ws of wss.clients) ws.terminate()
        await new Promise<void>((resolve) => wss.close(() => resolve()))
      },
    },
    description: options.dataDir === undefined ? 'none; in memory only' : `automerge-repo-storage-nodefs in ${options.dataDir}`,
  }
})
