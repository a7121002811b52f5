import WebSocket from 'ws'
import { onTestFinished } from 'vitest'
import { createClient, HandleStatus, type ClientOptions, type DocHandle, type MurmurClient } from '../../client/dist/index.js'
import { MemoryStore } from '../../client/dist/index.js'
import { until } from './wait.js'

/** A Murmur SDK client in Node (ws), closed when the test finishes. */
export function sdkClient(url: string, options: Partial<ClientOptions> = {}): MurmurClient {
  const client = createClient({
    url,
    WebSocket: WebSocket as unknown as ClientOptions['WebSocket'],
    store: options.store ?? new MemoryStore(),
    backoffInitialMs: 50,
    backoffMaxMs: 1000,
    ...options,
  })
  onTestFinished(() => client.close())
  return client
}

/** Resolve once the handle's status is `synced`. */
export function untilSynced(handle: DocHandle, ms = 30_000): Promise<void> {
  return until(() => handle.status === HandleStatus.synced, (cb) => handle.on('status', cb), ms, `${handle.docKey} synced`)
}

/** Resolve once nothing is left unacknowledged. */
export function untilSaved(handle: DocHandle, ms = 30_000): Promise<void> {
  return until(() => handle.unsavedCount === 0, (cb) => handle.on('unsaved', cb), ms, `${handle.docKey} saved`)
}
