/** `@murmur/shared/automerge`: what `@murmur/shared` exports, with the Automerge engine alone registered. */
import { registerEngine } from './engine/registry.js'
import { automergeEngine } from './engine/automerge/index.js'

export * from './core.js'
export * from './engine/automerge/index.js'

registerEngine(automergeEngine)
