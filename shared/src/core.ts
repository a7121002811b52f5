/** Everything of `@murmur/shared` that is not an engine: every entry point exports it. */
export * from './ids.js'
export * from './errors.js'
export * from './digest.js'
export * from './engine/engine.js'
export * from './engine/registry.js'
export * from './presence/awareness-table.js'
export * from './protocol/v1.js'
