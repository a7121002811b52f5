/**
 * `@murmur/shared`: the protocol, ids and errors, and every built-in engine, registered. An app that uses
 * one engine imports `@murmur/shared/yjs` or `@murmur/shared/automerge` instead and bundles only that one.
 */
import { registerEngine } from './engine/registry.js'
import { yjsEngine } from './engine/yjs/index.js'
import { automergeEngine } from './engine/automerge/index.js'

export * from './core.js'
export * from './engine/yjs/index.js'
export * from './engine/automerge/index.js'

// The engines a server knows: adding one is its folder under engine/ and its registration here.
registerEngine(yjsEngine)
registerEngine(automergeEngine)
