import { describe, expect, it } from 'vitest'
import { ErrorCode, engineNames, getEngine, isEngineName, registerEngine, yjsEngine, type Engine } from '../../shared/src/index.js'

describe('engine registry', () => {
  it('knows the built-in engines by name, and refuses an unknown one with UNKNOWN_ENGINE', () => {
    expect(engineNames()).toEqual(expect.arrayContaining(['yjs', 'automerge']))
    expect(getEngine('yjs')).toBe(yjsEngine)
    expect(isEngineName('yjs')).toBe(true)
    expect(isEngineName('nope')).toBe(false)
    expect(isEngineName(42)).toBe(false)
    expect(() => getEngine('nope')).toThrow(expect.objectContaining({ code: ErrorCode.UNKNOWN_ENGINE }))
  })

  it('takes a new engine with one registration, and refuses names that cannot be part of a doc key', () => {
    const plain: Engine = { ...yjsEngine, name: 'plain-text' }
    registerEngine(plain)
    expect(isEngineName('plain-text')).toBe(true)
    expect(getEngine('plain-text')).toBe(plain)
    expect(engineNames()).toContain('plain-text')
    for (const name of ['', 'Yjs', 'a:b', 'x'.repeat(40)]) expect(() => registerEngine({ ...yjsEngine, name })).toThrow(/invalid engine name/)
  })
})
