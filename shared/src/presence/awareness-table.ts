import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '../errors.js'

/**
 * A relay's view of y-protocols awareness: the latest (clock, state) per client id, and which connection
 * announced each client id, so that a closed connection's states can be removed for everyone.
 * It never needs a Y.Doc, so it serves any engine's presence.
 */
interface Entry {
  clock: number
  /** JSON text of the state; 'null' marks a removed client. */
  state: string
  owner: unknown
}

export interface AwarenessEntry {
  readonly clientId: number
  readonly clock: number
  readonly state: string
}

export function encodeAwarenessEntries(entries: readonly AwarenessEntry[]): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, entries.length)
  for (const e of entries) {
    encoding.writeVarUint(enc, e.clientId)
    encoding.writeVarUint(enc, e.clock)
    encoding.writeVarString(enc, e.state)
  }
  return encoding.toUint8Array(enc)
}

export function decodeAwarenessEntries(update: Uint8Array): AwarenessEntry[] {
  try {
    const dec = decoding.createDecoder(update)
    const count = decoding.readVarUint(dec)
    if (count > update.length) throw new Error('entry count larger than the message')
    const out: AwarenessEntry[] = []
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(dec)
      const clock = decoding.readVarUint(dec)
      const state = decoding.readVarString(dec)
      JSON.parse(state)
      out.push({ clientId, clock, state })
    }
    return out
  } catch (err) {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed awareness update: ${(err as Error).message}`)
  }
}

/** An awareness message that announces nothing; a harmless keep-alive for y-websocket clients. */
export const EMPTY_AWARENESS_UPDATE: Uint8Array = encodeAwarenessEntries([])

export class AwarenessTable {
  private readonly entries = new Map<number, Entry>()

  /** Number of clients with a live (non-null) state. */
  get size(): number {
    let n = 0
    for (const e of this.entries.values()) if (e.state !== 'null') n++
    return n
  }

  /**
   * Apply an update from `owner`. Returns the entries that were newer than what the table held (the
   * ones worth forwarding), encoded, or null when nothing changed.
   */
  apply(update: Uint8Array, owner: unknown): Uint8Array | null {
    const accepted: AwarenessEntry[] = []
    for (const e of decodeAwarenessEntries(update)) {
      const current = this.entries.get(e.clientId)
      const newer =
        current === undefined || current.clock < e.clock || (current.clock === e.clock && e.state === 'null' && current.state !== 'null')
      if (!newer) continue
      if (e.state === 'null') this.entries.delete(e.clientId)
      else this.entries.set(e.clientId, { clock: e.clock, state: e.state, owner })
      accepted.push(e)
    }
    return accepted.length === 0 ? null : encodeAwarenessEntries(accepted)
  }

  /** All live states, for a newcomer; null when there are none. */
  encodeAll(): Uint8Array | null {
    const all: AwarenessEntry[] = []
    for (const [clientId, e] of this.entries) all.push({ clientId, clock: e.clock, state: e.state })
    return all.length === 0 ? null : encodeAwarenessEntries(all)
  }

  /** Remove every state announced by `owner`; returns the removal update to broadcast, or null. */
  removeOwner(owner: unknown): Uint8Array | null {
    const removed: AwarenessEntry[] = []
    for (const [clientId, e] of this.entries) {
      if (e.owner !== owner) continue
      this.entries.delete(clientId)
      removed.push({ clientId, clock: e.clock + 1, state: 'null' })
    }
    return removed.length === 0 ? null : encodeAwarenessEntries(removed)
  }
}
