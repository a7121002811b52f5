/** `@murmur/shared/yjs`: what `@murmur/shared` exports, with the Yjs engine alone registered. */
import { registerEngine } from './engine/registry.js'
import { yjsEngine } from './engine/yjs/index.js'

export * from './core.js'
export * from './engine/yjs/index.js'

registerEngine(yjsEngine)
