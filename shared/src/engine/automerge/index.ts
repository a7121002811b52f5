/** The Automerge engine: what `@murmur/shared` and `@murmur/shared/automerge` export of it. */
export { automergeEngine, changeAutomerge, automergeValueOf, Automerge } from './engine.js'
