import * as Y from 'yjs'
import { ErrorCode, MurmurError } from '../../errors.js'
import { EngineName, type Engine, type EngineDoc } from '../engine.js'
import { YjsDoc } from './doc.js'
import { insertedIds, textAuthorsOf } from './history.js'
import { restoreUpdate } from './restore.js'
import { decodeStored, newYDoc } from './stored.js'
import { decodeValidated, stateVectorOf, validate } from './validate.js'

export const yjsEngine: Engine = {
  name: EngineName.yjs,
  sharesUpdateMessages: true,
  repairsWithSnapshot: false,
  create(): EngineDoc {
    return new YjsDoc(newYDoc())
  },
  load(snapshot: Uint8Array | null, updates: Iterable<Uint8Array>): EngineDoc {
    const rest = [...updates]
    const stored = snapshot === null ? null : decodeStored(snapshot)
    // A snapshot this engine stored: its bytes were checked when they were first applied (and storage
    // checksums them), and its state vector is in it.
    if (stored !== null && rest.length === 0) return new YjsDoc(null, stored.update, stored.stateVector)
    if (stored !== null) snapshot = stored.update
    // One piece of stored state (a compacted doc, or a doc written once) is served encoded, as it is.
    // Its state vector is read at once: the first sync needs it, and reading it checks the bytes.
    const single = rest.length === 0 ? snapshot : snapshot === null && rest.length === 1 ? rest[0] : null
    if (single !== null) {
      let stateVector
      try {
        stateVector = stateVectorOf(decodeValidated(single))
      } catch (err) {
        throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs doc is corrupt: ${(err as Error).message}`, { cause: err })
      }
      return new YjsDoc(null, single, stateVector)
    }
    const doc = newYDoc()
    try {
      Y.transact(doc, () => {
        if (snapshot !== null) Y.applyUpdate(doc, snapshot)
        for (const u of rest) Y.applyUpdate(doc, u)
      })
    } catch (err) {
      doc.destroy()
      throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs doc is corrupt: ${(err as Error).message}`, { cause: err })
    }
    return new YjsDoc(doc)
  },
  mergeUpdates(updates: Uint8Array[]): Uint8Array {
    if (updates.length === 1) return updates[0]
    return Y.mergeUpdates(updates)
  },
  validateUpdate: validate,
  restoreUpdate,
  insertedIds,
  textAuthors: textAuthorsOf,
}

/** The Y.Doc behind an engine doc of the Yjs engine (for code that needs the Yjs API itself). */
export function yDocOf(doc: EngineDoc): Y.Doc {
  if (!(doc instanceof YjsDoc)) throw new TypeError('not a Yjs engine doc')
  return doc.doc
}

/** Wrap an existing Y.Doc (the client SDK owns its Y.Doc and hands it to the engine layer). */
export function wrapYDoc(doc: Y.Doc): EngineDoc {
  return new YjsDoc(doc)
}
