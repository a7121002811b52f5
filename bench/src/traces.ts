import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Editing traces (sequential): `{ startContent, endContent, txns: [{ patches: [[pos, del, insert]] }] }`,
 * positions in code points. The real ones live in the shared traces folder beside the repository and
 * are never committed here; when a file is absent, a generated trace of the same shape stands in.
 */
export type Patch = [pos: number, del: number, insert: string]
export interface Trace {
  readonly name: string
  readonly source: 'file' | 'generated'
  readonly startContent: string
  /** Null for a generated trace (computing it would cost more than the benchmark it serves). */
  readonly endContent: string | null
  readonly patches: Patch[]
}

const here = path.dirname(fileURLToPath(import.meta.url))
/** ../shared/traces relative to the repository root. */
export const DEFAULT_TRACE_DIR = path.resolve(here, '../../../shared/traces')

interface RawTrace {
  startContent?: string
  endContent?: string
  txns?: { patches?: [number, number, string][] }[]
}

export function loadTrace(name = 'automerge-paper', dir = process.env.MURMUR_TRACE_DIR ?? DEFAULT_TRACE_DIR): Trace {
  const file = path.join(dir, `${name}.json.gz`)
  if (existsSync(file)) {
    const raw = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as RawTrace
    const patches: Patch[] = []
    for (const txn of raw.txns ?? []) for (const p of txn.patches ?? []) patches.push([p[0], p[1], p[2]])
    return { name, source: 'file', startContent: raw.startContent ?? '', endContent: raw.endContent ?? '', patches }
  }
  return generateTrace(name)
}

/**
 * A trace shaped like automerge-paper: 259,778 single-character edits, ~70% inserts, typed mostly at a
 * moving cursor. Deterministic (seeded), so runs compare.
 */
export function generateTrace(name = 'generated', edits = 259_778, seed = 42): Trace {
  let s = seed >>> 0
  const rand = (): number => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
  const alphabet = 'abcdefghijklmnopqrstuvwxyz      eeettaoin\n.,'
  const patches: Patch[] = []
  let len = 0
  let cursor = 0
  for (let i = 0; i < edits; i++) {
    if (rand() < 0.05) cursor = Math.floor(rand() * (len + 1))
    if (len > 0 && cursor > 0 && rand() < 0.3) {
      cursor--
      patches.push([cursor, 1, ''])
      len--
    } else {
      const ch = alphabet[Math.floor(rand() * alphabet.length)]
      patches.push([cursor, 0, ch])
      cursor++
      len++
    }
  }
  return { name: `${name} (generated)`, source: 'generated', startContent: '', endContent: null, patches }
}
