import { ErrorCode, MurmurError } from '../errors.js'
import { EngineName, isEngineName, type Engine } from './engine.js'
import { yjsEngine } from './yjs.js'
import { automergeEngine } from './automerge.js'

const engines = new Map<EngineName, Engine>([
  [EngineName.yjs, yjsEngine],
  [EngineName.automerge, automergeEngine],
])

/** Register an engine adapter under its name, replacing any registered before. */
export function registerEngine(engine: Engine): void {
  engines.set(engine.name, engine)
}

export function getEngine(name: string): Engine {
  const engine = isEngineName(name) ? engines.get(name) : undefined
  if (engine === undefined) throw new MurmurError(ErrorCode.UNKNOWN_ENGINE, `unknown engine: ${String(name).slice(0, 40)}`)
  return engine
}
