import * as Y from 'yjs'

/**
 * `count` updates of map 'm' from two writers in turn, each setting its own key (`w0`, `w1`) to the
 * update's index, each writer having seen the other's edits; and what the map holds after all of them.
 */
export function mapEdits(count: number): { updates: Uint8Array[]; final: Record<string, unknown> } {
  const writers = [new Y.Doc(), new Y.Doc()]
  const updates: Uint8Array[] = []
  writers.forEach((w, i) =>
    w.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== null) return
      updates.push(u)
      Y.applyUpdate(writers[1 - i], u, 'peer')
    }),
  )
  for (let i = 0; i < count; i++) writers[i % 2].getMap('m').set(`w${i % 2}`, i)
  return { updates, final: writers[0].getMap('m').toJSON() }
}
