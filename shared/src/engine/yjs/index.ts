/** The Yjs engine: what `@murmur/shared` and `@murmur/shared/yjs` export of it. */
export { yjsEngine, yDocOf, wrapYDoc } from './engine.js'
export { YSyncMessage, encodeYSyncMessage, decodeYSyncMessage, isEmptyUpdate } from './sync-message.js'
