import type { NodeId } from '@murmur/shared'
import type { RevocationEntry, Revocations } from '../auth/revocations.js'
import type { Logger } from '../logger.js'
import { PeerMessageType, type PeerMessage } from './peer-protocol.js'

/** What spreading revocations needs of the cluster. */
export interface RevocationGossipDeps {
  readonly revocations: Revocations
  connectedPeers(): readonly NodeId[]
  send(peer: NodeId, msg: PeerMessage): boolean
  readonly log: Logger
}

/**
 * Every node keeps the same revocations: a revocation decided (or lifted) on one node goes to every
 * connected node at once, and each link that comes up exchanges the whole list (lifted entries
 * included), so a node that was away catches up. Entries merge by their time (`Revocations.merge`);
 * what a peer sent is not sent on (every node links to every other).
 */
export class RevocationGossip {
  private readonly onChanged = (entries: RevocationEntry[]): void => {
    if (this.merging) return
    for (const peer of this.deps.connectedPeers()) this.deps.send(peer, { type: PeerMessageType.revocations, entries })
  }
  private merging = false

  constructor(private readonly deps: RevocationGossipDeps) {
    deps.revocations.on('changed', this.onChanged)
  }

  linkUp(peer: NodeId): void {
    const entries = this.deps.revocations.all()
    if (entries.length > 0) this.deps.send(peer, { type: PeerMessageType.revocations, entries })
  }

  receive(entries: readonly RevocationEntry[]): void {
    this.merging = true
    try {
      this.deps.revocations.merge(entries)
    } catch (err) {
      this.deps.log.error({ err }, 'could not keep the revocations another node sent')
    } finally {
      this.merging = false
    }
  }

  close(): void {
    this.deps.revocations.off('changed', this.onChanged)
  }
}
