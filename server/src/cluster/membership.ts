// Placeholder so the tree builds while the SWIM membership is being written; replaced by the real one.
import type { NodeId } from '@murmur/shared'
import { MemberState, type MemberInfo, type MembershipEnv, type MembershipOptions, type SwimMessage } from './membership-api.js'

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

export class Membership {
  private readonly known = new Map<NodeId, MemberInfo>()
  private readonly listeners = new Set<(m: MemberInfo) => void>()
  readonly counters = { probes: 0, suspicions: 0, refutations: 0, deaths: 0 }
  readonly localHealth = 0
  constructor(private readonly options: MembershipOptions, private readonly env: MembershipEnv) {
    this.known.set(options.self.id, { id: options.self.id, url: options.self.url, state: MemberState.alive, incarnation: 0, since: env.now(), rttMs: null })
  }
  on(_event: 'change', listener: (m: MemberInfo) => void): void {
    this.listeners.add(listener)
  }
  addSeed(id: NodeId, url: string): void {
    if (this.known.has(id)) return
    const m: MemberInfo = { id, url, state: MemberState.alive, incarnation: 0, since: this.env.now(), rttMs: null }
    this.known.set(id, m)
    for (const l of this.listeners) l(m)
  }
  receive(_from: NodeId, _msg: SwimMessage): void {}
  tick(): void {}
  members(): MemberInfo[] {
    return [...this.known.values()]
  }
  leave(): void {}
}
