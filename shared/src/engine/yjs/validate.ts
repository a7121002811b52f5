/** Checks on Yjs bytes from elsewhere, made before any of them reaches a Y.Doc. */
import * as Y from 'yjs'
import { ErrorCode, MurmurError } from '../../errors.js'

export function validate(update: Uint8Array): void {
  decodeValidated(update)
}

/** Decode an update and check it the way `validate` documents; its structs, in update order. */
export function decodeValidated(update: Uint8Array): Array<Y.Item | Y.GC | Y.Skip> {
  try {
    // Reads every struct and then the delete set (`parseUpdateMeta` stops before the delete set, so bytes
    // cut inside it passed and then failed half-applied); throws on truncated or corrupt bytes.
    const { structs, ds } = Y.decodeUpdate(update)
    // An item refers to its neighbours and parent as they were when it was made, so a reference to the
    // same client is always to an earlier clock. Yjs trusts this and fails half-way through integrating
    // an item that points ahead at its own client, leaving the doc changed but the update refused.
    for (const s of structs) {
      if (!(s instanceof Y.Item)) continue
      const { client, clock } = s.id
      const parent = s.parent instanceof Y.ID ? s.parent : null
      for (const ref of [s.origin, s.rightOrigin, parent]) {
        if (ref !== null && ref.client === client && ref.clock >= clock) throw new Error('an item refers ahead to its own client')
      }
    }
    // Yjs never writes an empty delete range, and one for items we do not have yet makes it throw when
    // it sets the range aside, after the update's structs went in: refused here, before anything applies.
    for (const ranges of ds.clients.values()) {
      for (const range of ranges) if (!(range.len > 0)) throw new Error('empty delete range')
    }
    return structs
  } catch (err) {
    throw new MurmurError(ErrorCode.INVALID_UPDATE, `malformed Yjs update: ${(err as Error).message}`)
  }
}

/**
 * The state vector a doc holding just this update has, from its decoded structs: per client, the end of
 * the run that starts at clock 0 and has no gap (what `Y.encodeStateVectorFromUpdate` computes).
 */
export function stateVectorOf(structs: ReadonlyArray<Y.Item | Y.GC | Y.Skip>): Uint8Array {
  const sv = new Map<number, number>()
  let client = -1
  let end = 0
  let counting = false
  for (const s of structs) {
    if (s.id.client !== client) {
      if (end > 0) sv.set(client, end)
      client = s.id.client
      end = 0
      counting = s.id.clock === 0
    }
    if (s instanceof Y.Skip || s.id.clock !== end) counting = false
    if (counting) end = s.id.clock + s.length
  }
  if (end > 0) sv.set(client, end)
  return Y.encodeStateVector(sv)
}

export function validateStateVector(sv: Uint8Array): Map<number, number> {
  try {
    return Y.decodeStateVector(sv)
  } catch (err) {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed state vector: ${(err as Error).message}`)
  }
}
