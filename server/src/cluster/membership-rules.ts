import { MemberState, type MembershipOptions } from './membership-api.js'

/**
 * The rules of SWIM membership that do not depend on any state: defaults, the precedence of member
 * states, Lifeguard's suspicion timeouts and the detection bound. docs/cluster.md states the same.
 */

/** LAN defaults; docs/cluster.md explains each. */
export const DEFAULT_MEMBERSHIP_OPTIONS: Omit<MembershipOptions, 'self'> = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectProbes: 3,
  suspicionMult: 4,
  suspicionMaxMult: 6,
  pushPullIntervalMs: 30_000,
  gossipPerMessage: 8,
  retransmitMult: 4,
}

/** Lifeguard's local health multiplier saturates here: probe interval and timeout grow at most 8×. */
export const MAX_LOCAL_HEALTH = 7

const RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 }

/**
 * Does `next` supersede `cur`? `left` is final; otherwise the higher incarnation wins, and at equal
 * incarnations dead beats suspect beats alive. Every view therefore moves only upward in one order,
 * which is why views that have heard the same updates agree.
 */
export function supersedes(next: { state: MemberState; incarnation: number }, cur: { state: MemberState; incarnation: number }): boolean {
  if (cur.state === MemberState.left) return false
  if (next.state === MemberState.left) return true
  if (next.incarnation !== cur.incarnation) return next.incarnation > cur.incarnation
  return RANK[next.state] > RANK[cur.state]
}

/** Lifeguard's bounds: min = suspicionMult × log10(max(n, 10)) × probeInterval, max = suspicionMaxMult × min. */
export function suspicionTimeouts(o: Omit<MembershipOptions, 'self'>, n: number): { minMs: number; maxMs: number } {
  const minMs = o.suspicionMult * Math.log10(Math.max(n, 10)) * o.probeIntervalMs
  return { minMs, maxMs: o.suspicionMaxMult * minMs }
}

/**
 * The suspicion timeout after `confirmations` independent suspecters beyond the first, out of `expected`:
 * max − (max − min) × log(c + 1) / log(k + 1), never below min. Logarithmic, so the first confirmations
 * (the strongest evidence) cut the most.
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, expected: number, confirmations: number): number {
  if (expected < 1) return minMs
  const frac = Math.log(confirmations + 1) / Math.log(expected + 1)
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)))
}

/**
 * Worst case, without message loss, from a crash until every other member holds it dead, for n members.
 * Each member probes the others in a fresh random order per round of n − 1 probes, so two probes of one
 * target can be 2(n − 1) − 1 periods apart (first in one round, last in the next). That probe fails after
 * the probe timeout plus the indirect phase (the rest of the period) and the prober suspects; its own
 * suspicion timer then expires within the maximum timeout, whether or not gossip from others came first.
 * Probes stay on the period grid, so a driver that calls `tick()` every `tickMs` adds at most two ticks
 * (the last probe's deadline and the suspicion's expiry), not one per period.
 */
export function detectionBoundMs(o: Omit<MembershipOptions, 'self'>, n: number, tickMs = 0): number {
  const roundRobin = (2 * Math.max(1, n - 1) - 1) * o.probeIntervalMs
  const indirectMs = o.probeIntervalMs - o.probeTimeoutMs
  return Math.ceil(roundRobin + o.probeTimeoutMs + indirectMs + suspicionTimeouts(o, n).maxMs + 2 * tickMs)
}
