/** Everything of `@murmur/client` that is not an engine: every entry point exports it. */
export { ClientCore, type ClientOptions, type ClientEvents } from './client.js'
export { ConnectionState, type ConnectionDetail, type WebSocketConstructor, type WebSocketLike } from './connection.js'
export { DocHandle, HandleStatus, type HandleEvents } from './handles/doc-handle.js'
export type { LocalStore, LocalDoc, OutboxEntry } from './store/local-store.js'
export { MemoryStore } from './store/memory-store.js'
export { IndexedDbStore } from './store/idb-store.js'
export { silentLogger, type Logger } from './logger.js'
export { DocVersions, VersionApiError, type VersionInfo, type VersionDiff, type RestoreResult, type TextOp, type FetchLike } from './versions.js'
