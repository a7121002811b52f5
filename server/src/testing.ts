/**
 * `@murmur/server/testing`: the acceptance suite every storage backend runs (under vitest). Not part of
 * the product entry points: only this one imports vitest.
 */
export { runStorageAcceptance, type StorageHarness, type TestedStorage } from './testing/storage-acceptance.js'
