import type { NodeId } from '@murmur/shared'

/** Fisher–Yates in place, driven by the injected random source (seeded in the simulation). */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

/**
 * SWIM's randomized round robin: each round probes every member once, in a fresh random order, which
 * bounds the time between two probes of one member to 2(n − 1) − 1 periods.
 */
export class ProbeOrder {
  private order: NodeId[] = []
  private index = 0

  constructor(private readonly random: () => number) {}

  /** The next member to probe; when the round is over, a new one starts from `members()`. */
  next(probeable: (id: NodeId) => boolean, members: () => NodeId[]): NodeId | undefined {
    for (let round = 0; round < 2; round++) {
      while (this.index < this.order.length) {
        const id = this.order[this.index++]
        if (probeable(id)) return id
      }
      this.order = shuffle(members(), this.random)
      this.index = 0
    }
    return undefined
  }

  /** A member that became probeable joins the current round at a random place, not at its end. */
  add(id: NodeId): void {
    if (this.order.indexOf(id, this.index) !== -1) return
    const at = this.index + Math.floor(this.random() * (this.order.length - this.index + 1))
    this.order.splice(at, 0, id)
  }
}

interface Relay {
  readonly requester: NodeId
  readonly requesterSeq: number
  readonly target: NodeId
  readonly nackAt: number
  readonly expiresAt: number
  nacked: boolean
}

/** Where an answer for a requester goes: its node and the sequence number it used. */
export type RelayReply = { readonly requester: NodeId; readonly requesterSeq: number }

/**
 * The pings we send on behalf of others (ping-req), keyed by our own sequence number: the target's ack is
 * forwarded to the requester, and a nack goes back if the target is slow (Lifeguard).
 */
export class Relays {
  private readonly pending = new Map<number, Relay>()

  add(seq: number, relay: Omit<Relay, 'nacked'>): void {
    this.pending.set(seq, { ...relay, nacked: false })
  }

  /** An ack from `from` for our relayed ping `seq`: whom to forward it to, once. */
  takeAck(seq: number, from: NodeId): RelayReply | undefined {
    const r = this.pending.get(seq)
    if (r === undefined || r.target !== from) return undefined
    this.pending.delete(seq)
    return r
  }

  /** Requesters owed a nack now; relays past their expiry are dropped (a late ack then goes nowhere). */
  nacksDue(now: number): RelayReply[] {
    const out: RelayReply[] = []
    for (const [seq, r] of this.pending) {
      if (!r.nacked && now >= r.nackAt) {
        r.nacked = true
        out.push(r)
      }
      if (now >= r.expiresAt) this.pending.delete(seq)
    }
    return out
  }

  nextDue(): number {
    let t = Infinity
    for (const r of this.pending.values()) t = Math.min(t, r.nacked ? r.expiresAt : r.nackAt)
    return t
  }
}
