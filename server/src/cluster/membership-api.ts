import type { NodeId } from '@murmur/shared'

/**
 * The contract between SWIM membership (a pure state machine, `membership.ts`) and whoever drives it:
 * the real node (WebSocket links, wall clock) or the deterministic simulation (virtual clock, seeded
 * faults). Membership never touches a socket or a timer itself.
 */

export const MemberState = {
  alive: 'alive',
  suspect: 'suspect',
  dead: 'dead',
  /** Decommissioned by an operator: the only state that changes doc ownership. */
  left: 'left',
} as const
export type MemberState = (typeof MemberState)[keyof typeof MemberState]

export interface MemberInfo {
  readonly id: NodeId
  /** ws(s)://host:port of the node (its /peer endpoint is at this origin). */
  readonly url: string
  readonly state: MemberState
  readonly incarnation: number
  /** Virtual or wall-clock ms of the last state change. */
  readonly since: number
  /** Smoothed round-trip time of direct probes, ms; null before the first ack. */
  readonly rttMs: number | null
}

/** Messages membership exchanges. Plain JSON-serialisable objects (the node sends them as JSON). */
export type SwimMessage = { readonly kind: string } & Record<string, unknown>

export interface MembershipEnv {
  /** Current time in ms (wall clock in the node, virtual in the simulation). */
  now(): number
  /** Uniform [0, 1); seeded in the simulation. */
  random(): number
  /** Best effort: may be dropped, delayed, duplicated or reordered. */
  send(to: NodeId, msg: SwimMessage): void
}

export interface MembershipOptions {
  readonly self: { readonly id: NodeId; readonly url: string }
  /** Period of one probe round (SWIM protocol period). */
  readonly probeIntervalMs: number
  /** Time to wait for a direct ack before asking others for indirect probes. */
  readonly probeTimeoutMs: number
  /** Members asked to probe indirectly. */
  readonly indirectProbes: number
  /** Lifeguard: min suspicion timeout = suspicionMult × log10(max(n, 10)) × probeIntervalMs (docs/cluster.md, membership-rules.ts). */
  readonly suspicionMult: number
  /** Lifeguard: the maximum suspicion timeout is this multiple of the minimum. */
  readonly suspicionMaxMult: number
  /** Periodic full state exchange with a random member. */
  readonly pushPullIntervalMs: number
  /** Piggybacked updates per message, and how many times each update is retransmitted (× log n). */
  readonly gossipPerMessage: number
  readonly retransmitMult: number
}

export interface MembershipEvents {
  /** A member was added or changed state/incarnation. */
  change(member: MemberInfo): void
}
