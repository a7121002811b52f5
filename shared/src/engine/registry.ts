/**
 * The engines this process knows, by name. It imports no engine: an entry point registers the engines it
 * ships (`@murmur/shared` both built-in ones, `@murmur/shared/yjs` only Yjs), so an app that uses one
 * engine bundles no other. Everything that turns a name from the wire, a URL or storage into an engine
 * asks here.
 */
import { ErrorCode, MurmurError } from '../errors.js'
import type { Engine, EngineName } from './engine.js'

const ENGINE_NAME = /^[a-z][a-z0-9-]{0,31}$/

const engines = new Map<EngineName, Engine>()

/**
 * Register an engine adapter under its name, replacing any registered before under that name (so that
 * two entry points that both register the same engine agree).
 */
export function registerEngine(engine: Engine): void {
  if (!ENGINE_NAME.test(engine.name)) throw new TypeError(`invalid engine name: ${JSON.stringify(engine.name).slice(0, 40)}`)
  engines.set(engine.name, engine)
}

/** True when `value` is the name of a registered engine. */
export function isEngineName(value: unknown): boolean {
  return typeof value === 'string' && engines.has(value)
}

/** The registered engine called `name`; a MurmurError(UNKNOWN_ENGINE) when there is none. */
export function getEngine(name: string): Engine {
  const engine = engines.get(name)
  if (engine === undefined) throw new MurmurError(ErrorCode.UNKNOWN_ENGINE, `unknown engine: ${String(name).slice(0, 40)}`)
  return engine
}

/** The names of the registered engines, in registration order. */
export function engineNames(): EngineName[] {
  return [...engines.keys()]
}
