import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '../../errors.js'

/** y-protocols sync message types; the same numbers y-websocket uses. */
export const YSyncMessage = { step1: 0, step2: 1, update: 2 } as const
export type YSyncMessage = (typeof YSyncMessage)[keyof typeof YSyncMessage]

export function encodeYSyncMessage(type: YSyncMessage, payload: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, type)
  encoding.writeVarUint8Array(enc, payload)
  return encoding.toUint8Array(enc)
}

export function decodeYSyncMessage(message: Uint8Array): { type: YSyncMessage; payload: Uint8Array } {
  try {
    const dec = decoding.createDecoder(message)
    const type = decoding.readVarUint(dec)
    if (type !== YSyncMessage.step1 && type !== YSyncMessage.step2 && type !== YSyncMessage.update) {
      throw new Error(`unknown sync message type ${type}`)
    }
    const payload = decoding.readVarUint8Array(dec)
    return { type, payload }
  } catch (err) {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed Yjs sync message: ${(err as Error).message}`)
  }
}

/** An update with no structs and no deletes (what a peer with nothing new sends as SyncStep2). */
export function isEmptyUpdate(update: Uint8Array): boolean {
  // Encoded as: 0 struct clients, 0 delete-set clients.
  return update.length === 2 && update[0] === 0 && update[1] === 0
}
