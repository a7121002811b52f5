/**
 * The side of a server process under test that talks to the bench over IPC: it says where it listens,
 * reports its memory after a full GC when asked, and shuts down cleanly on request. Every server entry
 * in this folder (Murmur and each peer) uses it, so all are measured the same way.
 */

import { getHeapSpaceStatistics } from 'node:v8'

export interface ChildServer {
  readonly port: number
  close(): Promise<void>
}

export type ToChild = { readonly type: 'memory' } | { readonly type: 'stop' }

export type FromChild =
  | { readonly type: 'listening'; readonly port: number; readonly description: string }
  | {
      readonly type: 'memory'
      readonly rss: number
      readonly heapUsed: number
      readonly external: number
      readonly arrayBuffers: number
      readonly youngGeneration: number
    }
  | { readonly type: 'failed'; readonly message: string }

/** The options the bench passes, as JSON in argv[2]. */
export function childOptions<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T
}

function send(msg: FromChild): void {
  process.send?.(msg)
}

async function fullGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    // Let finalizers and freed native buffers settle between passes.
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Start the server with `start` and serve the bench's requests until told to stop. */
export async function runChild(start: () => Promise<{ server: ChildServer; description: string }>): Promise<void> {
  let server: ChildServer
  try {
    const started = await start()
    server = started.server
    send({ type: 'listening', port: server.port, description: started.description })
  } catch (err) {
    send({ type: 'failed', message: (err as Error).stack ?? String(err) })
    process.exit(1)
  }
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`close failed: ${String(err)}\n`)
        process.exit(1)
      },
    )
  }
  process.on('message', (raw: ToChild) => {
    if (raw.type === 'stop') stop()
    else if (raw.type === 'memory') {
      void fullGc().then(() => {
        const m = process.memoryUsage()
        const youngGeneration = getHeapSpaceStatistics()
          .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
          .reduce((sum, s) => sum + s.physical_space_size, 0)
        send({ type: 'memory', rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, youngGeneration })
      })
    }
  })
  process.on('SIGTERM', stop)
  // The bench went away: do not outlive it.
  process.on('disconnect', () => process.exit(0))
}
