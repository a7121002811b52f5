/** `@murmur/client/yjs`: the SDK for Yjs docs alone (nothing of Automerge is imported). */
import type { ClientOptions } from './client.js'
import { YjsClient } from './yjs/client.js'

export * from './core.js'
export { YjsClient } from './yjs/client.js'
export { YjsHandle } from './yjs/handle.js'

/** Create a client for Yjs docs. */
export function createClient(options: ClientOptions): YjsClient {
  return new YjsClient(options)
}
