import * as Y from 'yjs'
import type { Trace } from '../traces.js'

/** The root type every bench doc edits. */
export const TEXT = 'text'

/** An editing trace replayed into Yjs: one update per edit, as an editor would send them. */
export interface YjsTraceUpdates {
  readonly trace: string
  readonly source: Trace['source']
  readonly updates: readonly Uint8Array[]
  /** The final doc, encoded (V1) as a server would store or send it. */
  readonly finalState: Uint8Array
  readonly finalLength: number
  readonly buildMs: number
}

/**
 * Replay `trace` into a Y.Doc, one transaction per edit, and keep every update it emits. Trace
 * positions count code points and Y.Text counts UTF-16 units: identical for the ASCII traces used here.
 */
export function yjsTraceUpdates(trace: Trace, limit = Infinity): YjsTraceUpdates {
  const started = performance.now()
  const doc = new Y.Doc()
  const text = doc.getText(TEXT)
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  if (trace.startContent.length > 0) text.insert(0, trace.startContent)
  const n = Math.min(limit, trace.patches.length)
  for (let i = 0; i < n; i++) {
    const [pos, del, insert] = trace.patches[i]
    doc.transact(() => {
      if (del > 0) text.delete(pos, del)
      if (insert.length > 0) text.insert(pos, insert)
    })
  }
  const finalState = Y.encodeStateAsUpdate(doc)
  const finalLength = text.length
  doc.destroy()
  return { trace: trace.name, source: trace.source, updates, finalState, finalLength, buildMs: performance.now() - started }
}

/** Updates per second of plain `Y.applyUpdate`, one update at a time into one fresh doc. */
export function rawApplyRate(updates: readonly Uint8Array[]): number {
  const doc = new Y.Doc()
  const started = performance.now()
  for (const u of updates) Y.applyUpdate(doc, u)
  const ms = performance.now() - started
  doc.destroy()
  return updates.length / (ms / 1000)
}

/** Milliseconds to decode an encoded doc into a fresh Y.Doc (median of `runs`, after one warm-up). */
export function rawDecodeMs(state: Uint8Array, runs = 5): number[] {
  const times: number[] = []
  for (let i = 0; i <= runs; i++) {
    const doc = new Y.Doc()
    const started = performance.now()
    Y.applyUpdate(doc, state)
    const ms = performance.now() - started
    doc.destroy()
    if (i > 0) times.push(ms)
  }
  return times
}
