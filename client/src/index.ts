/**
 * `@murmur/client`: the SDK with every built-in engine. `@murmur/client/yjs` and
 * `@murmur/client/automerge` are the same SDK with one engine each.
 */
export * from './core.js'
export { createClient, MurmurClient } from './murmur-client.js'
export { YjsHandle } from './yjs/handle.js'
export { AutomergeHandle, type AutomergeHandleEvents } from './automerge/handle.js'
