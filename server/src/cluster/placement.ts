import { digest as sha256 } from 'lib0/hash/sha256'
import type { NodeId } from '@murmur/shared'

/** Docs are grouped into this many partitions; placement and anti-entropy work per partition. */
export const PARTITIONS = 256
/** Each partition's digest is the XOR of this many leaf digests. */
export const LEAVES = 256

const encoder = new TextEncoder()

/** Where a doc sits: its partition and its leaf within the partition (from a hash of its key). */
export function locate(key: string): { partition: number; leaf: number } {
  const h = sha256(encoder.encode(key))
  return { partition: h[0], leaf: h[1] }
}

function score(node: NodeId, partition: number): bigint {
  const h = sha256(encoder.encode(`${node}\u0000${partition}`))
  let v = 0n
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(h[i])
  return v
}

/**
 * Rendezvous (highest-random-weight) hashing of partitions over the configured members: each partition
 * is owned by the `n` members with the highest score. Adding or removing one member moves only the
 * partitions that member wins or loses.
 */
export class Placement {
  private owners: NodeId[][] = []
  private members: NodeId[] = []

  constructor(private readonly replicationFactor: number) {}

  /**
   * Recompute for a member set (not down members: only decommissioned ones leave the set). Returns
   * whether ownership may have changed.
   */
  setMembers(members: readonly NodeId[]): boolean {
    const sorted = [...new Set(members)].sort()
    if (sorted.length === this.members.length && sorted.every((m, i) => m === this.members[i])) return false
    this.members = sorted
    const n = Math.min(this.replicationFactor, sorted.length)
    this.owners = Array.from({ length: PARTITIONS }, (_, p) =>
      sorted
        .map((m) => ({ m, s: score(m, p) }))
        .sort((a, b) => (a.s === b.s ? 0 : a.s > b.s ? -1 : 1))
        .slice(0, n)
        .map((x) => x.m),
    )
    return true
  }

  get size(): number {
    return this.members.length
  }

  replicasOf(partition: number): readonly NodeId[] {
    return this.owners[partition] ?? []
  }

  isReplica(node: NodeId, partition: number): boolean {
    return this.replicasOf(partition).includes(node)
  }

  /** Partitions both nodes replicate. */
  sharedPartitions(a: NodeId, b: NodeId): number[] {
    const out: number[] = []
    for (let p = 0; p < PARTITIONS; p++) if (this.isReplica(a, p) && this.isReplica(b, p)) out.push(p)
    return out
  }
}
