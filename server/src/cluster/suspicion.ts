import type { NodeId } from '@murmur/shared'
import type { MembershipOptions } from './membership-api.js'
import { suspicionTimeoutMs, suspicionTimeouts } from './membership-rules.js'

interface Suspicion {
  readonly incarnation: number
  readonly startedAt: number
  readonly minMs: number
  readonly maxMs: number
  /** Confirmations Lifeguard waits for: min(indirectProbes, n − 2). */
  readonly expected: number
  /** Who suspected, first one included: only distinct suspecters shorten the timeout. */
  readonly suspecters: Set<NodeId>
}

/**
 * Lifeguard's dynamic suspicion timers, one per suspected member: each starts at the maximum timeout
 * and shrinks toward the minimum as independent suspecters confirm.
 */
export class Suspicions {
  private readonly byMember = new Map<NodeId, Suspicion>()

  constructor(private readonly o: Omit<MembershipOptions, 'self'>) {}

  /** Start (or restart) suspecting `id`; `n` counts the members not dead or left, self included. */
  start(id: NodeId, incarnation: number, first: NodeId, now: number, n: number): void {
    const { minMs, maxMs } = suspicionTimeouts(this.o, n)
    const expected = Math.max(0, Math.min(this.o.indirectProbes, n - 2))
    this.byMember.set(id, { incarnation, startedAt: now, minMs, maxMs, expected, suspecters: new Set([first]) })
  }

  /** Count an independent suspecter; true if it was not counted before. */
  confirm(id: NodeId, from: NodeId): boolean {
    const s = this.byMember.get(id)
    if (s === undefined || s.suspecters.has(from)) return false
    s.suspecters.add(from)
    return true
  }

  clear(id: NodeId): void {
    this.byMember.delete(id)
  }

  /** Remove and return the suspicions whose timeout has passed. */
  expired(now: number): { id: NodeId; incarnation: number }[] {
    const out: { id: NodeId; incarnation: number }[] = []
    for (const [id, s] of this.byMember) {
      if (now < expiry(s)) continue
      this.byMember.delete(id)
      out.push({ id, incarnation: s.incarnation })
    }
    return out
  }

  nextExpiry(): number {
    let t = Infinity
    for (const s of this.byMember.values()) t = Math.min(t, expiry(s))
    return t
  }
}

const expiry = (s: Suspicion): number => s.startedAt + suspicionTimeoutMs(s.minMs, s.maxMs, s.expected, s.suspecters.size - 1)
