/**
 * `@murmur/shared`: the protocol, ids and errors, and both built-in engines, registered. An app that uses
 * one engine imports `@murmur/shared/yjs` or `@murmur/shared/automerge` instead and bundles only that one.
 */
import { registerEngine } from './engine/registry.js'
import { yjsEngine } from './engine/yjs.js'
import { automergeEngine } from './engine/automerge.js'

export * from './core.js'
export * from './engine/yjs.js'
export * from './engine/automerge.js'

registerEngine(yjsEngine)
registerEngine(automergeEngine)
