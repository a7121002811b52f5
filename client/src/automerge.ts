/** `@murmur/client/automerge`: the SDK for Automerge docs alone. */
import type { ClientOptions } from './client.js'
import { AutomergeClient } from './automerge/client.js'

export * from './core.js'
export { AutomergeClient } from './automerge/client.js'
export { AutomergeHandle, type AutomergeHandleEvents } from './automerge/handle.js'

/** Create a client for Automerge docs. */
export function createClient(options: ClientOptions): AutomergeClient {
  return new AutomergeClient(options)
}
