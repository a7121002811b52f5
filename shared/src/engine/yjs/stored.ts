/** How the Yjs engine stores a doc, and the Y.Docs it makes. */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '../../errors.js'

/**
 * A stored Yjs snapshot: this header, the state vector (length-prefixed), then the state as one V1 update.
 * Loading it needs no decode at all. A V1 update never starts with these bytes in practice: they would
 * read as no structs followed by a delete set of 0x3fa6ff... clients.
 */
const STORED_HEADER = new Uint8Array([0x00, 0xff, 0xcd, 0x4d, 0x55, 0x52, 0x59, 0x01])

export function encodeStored(stateVector: Uint8Array, update: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeUint8Array(enc, STORED_HEADER)
  encoding.writeVarUint8Array(enc, stateVector)
  encoding.writeUint8Array(enc, update)
  return encoding.toUint8Array(enc)
}

/** The state vector and update of a stored snapshot, or null for a plain update (stored before the header existed). */
export function decodeStored(bytes: Uint8Array): { stateVector: Uint8Array; update: Uint8Array } | null {
  if (bytes.length < STORED_HEADER.length || STORED_HEADER.some((b, i) => bytes[i] !== b)) return null
  try {
    const dec = decoding.createDecoder(bytes.subarray(STORED_HEADER.length))
    const stateVector = decoding.readVarUint8Array(dec)
    // lib0 reads past the end of a view into the buffer behind it rather than failing.
    if (dec.pos > dec.arr.length) throw new Error('cut short')
    Y.decodeStateVector(stateVector)
    return { stateVector, update: bytes.subarray(STORED_HEADER.length + dec.pos) }
  } catch (err) {
    throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs snapshot is corrupt: ${(err as Error).message}`, { cause: err })
  }
}

let docsMade = 0

/**
 * A Y.Doc for the engine. Left to itself, Yjs names each doc with a random uuid, one random draw per hex
 * digit: about 0.15 ms in Node, more than loading a small doc. The name only matters for a subdoc (whose
 * name comes with it), which an engine doc never is.
 */
export function newYDoc(): Y.Doc {
  return new Y.Doc({ gc: true, guid: `murmur-${++docsMade}` })
}

export function applyStored(bytes: Uint8Array, doc: Y.Doc): void {
  try {
    Y.applyUpdate(doc, bytes)
  } catch (err) {
    throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs doc is corrupt: ${(err as Error).message}`, { cause: err })
  }
}
