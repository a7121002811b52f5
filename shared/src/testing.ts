/**
 * `@murmur/shared/testing`: the acceptance suite every engine adapter runs (under vitest). Not part of
 * the product entry points: only this one imports vitest and fast-check.
 */
export { runEngineAcceptance, type EngineAcceptanceOptions, type TextEditing } from './testing/engine-acceptance.js'
