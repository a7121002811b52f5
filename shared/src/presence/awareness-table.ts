import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '../errors.js'
import { PresenceLimit, type PresenceQuota } from './presence-quota.js'

/** One live state of the table: its clock, its JSON text, the connection that introduced it and its quota. */
interface Entry {
  clock: number
  state: string
  owner: unknown
  quota: PresenceQuota
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

/**
 * A relay's view of y-protocols awareness: the latest (clock, state) per client id, and which connection
 * introduced each client id. It never needs a Y.Doc, so it serves any engine's presence, on every
 * endpoint (a new endpoint passes its connection as `owner` and its socket's `PresenceQuota`).
 *
 * Ownership: a client id belongs to the connection that introduced it until that connection removes it
 * or closes. Updates and removals of another connection's ids are dropped (neither stored nor
 * forwarded), so no client, reader or writer, can change or remove someone else's presence; when a
 * connection closes, exactly its ids are removed for everyone (`removeOwner`).
 */
export class AwarenessTable {
  private readonly entries = new Map<number, Entry>()

  /** Number of clients with a live state. */
  get size(): number {
    return this.entries.size
  }

  /**
   * Apply an update from `owner`, charging its socket's `quota`. Returns the accepted entries (the ones
   * worth forwarding), encoded, or null when nothing changed. Throws MUR_ERR_AWARENESS_LIMIT when the
   * socket passes its limits; ids past the doc's limit are dropped.
   */
  apply(update: Uint8Array, owner: unknown, quota: PresenceQuota): Uint8Array | null {
    const accepted: AwarenessEntry[] = []
    for (const e of decodeAwarenessEntries(update)) {
      const current = this.entries.get(e.clientId)
      if (current !== undefined && current.owner !== owner) continue
      const removal = e.state === 'null'
      if (current === undefined) {
        // Removing what is not there changes nothing; a new id is charged to the socket and the doc.
        if (removal) continue
        if (this.entries.size >= quota.policy.limits.maxIdsPerDoc) {
          quota.policy.limitHit(PresenceLimit.idsPerDoc)
          continue
        }
        quota.charge(1, e.state.length)
        this.entries.set(e.clientId, { clock: e.clock, state: e.state, owner, quota })
        accepted.push(e)
        continue
      }
      const newer = current.clock < e.clock || (current.clock === e.clock && removal)
      if (!newer) continue
      if (removal) {
        this.entries.delete(e.clientId)
        current.quota.release(1, current.state.length)
      } else {
        // A smaller state gives bytes back; a larger one is charged.
        quota.charge(0, e.state.length - current.state.length)
        current.clock = e.clock
        current.state = e.state
      }
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

  /** The live states of each owner that `keep` selects, encoded per owner (a peer node's catch-up). */
  encodeOwners(keep: (owner: unknown) => boolean): Array<[unknown, Uint8Array]> {
    const by = new Map<unknown, AwarenessEntry[]>()
    for (const [clientId, e] of this.entries) {
      if (!keep(e.owner)) continue
      let list = by.get(e.owner)
      if (list === undefined) by.set(e.owner, (list = []))
      list.push({ clientId, clock: e.clock, state: e.state })
    }
    return [...by].map(([owner, list]) => [owner, encodeAwarenessEntries(list)])
  }

  /** Remove every state announced by `owner`; returns the removal update to broadcast, or null. */
  removeOwner(owner: unknown): Uint8Array | null {
    const removed: AwarenessEntry[] = []
    for (const [clientId, e] of this.entries) {
      if (e.owner !== owner) continue
      this.entries.delete(clientId)
      e.quota.release(1, e.state.length)
      removed.push({ clientId, clock: e.clock + 1, state: 'null' })
    }
    return removed.length === 0 ? null : encodeAwarenessEntries(removed)
  }
}
