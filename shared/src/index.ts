/**
 * `@murmur/shared`: the protocol, ids and errors, and both built-in engines, registered. An app that uses
 * one engine imports `@murmur/shared/yjs` or `@murmur/shared/automerge` instead and bundles only that one.
 */
export * from './core.js'
export * from './yjs.js'
export * from './automerge.js'
