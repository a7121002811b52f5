import { digest as sha256 } from 'lib0/hash/sha256'
import { LEAVES, PARTITIONS, locate } from './placement.js'

const encoder = new TextEncoder()

/** 8 bytes of a digest, as a bigint, for XOR sums. */
function hash64(text: string): bigint {
  const h = sha256(encoder.encode(text))
  let v = 0n
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(h[i])
  return v
}

/** The short form of a version that anti-entropy exchanges per doc. */
export function shortVersion(version: string): string {
  return version.slice(0, 16)
}

/**
 * The version a deleted doc has in the index. Not a hex digest, so no doc's content has it; every node
 * holding the tombstone has this same version, whenever each deleted, so tombstones compare equal.
 */
export const DELETED_VERSION = 'deleted'

interface Entry {
  version: string
  partition: number
  leaf: number
  hash: bigint
}

/**
 * The version of every doc this node holds, and a two-level digest tree over them: per partition, the
 * XOR of its 256 leaves; per leaf, the XOR of hash(key ‖ version) of its docs. Two nodes with the same
 * docs at the same versions have equal digests; one differing doc changes one leaf and one partition.
 * Updating a doc's version is O(1).
 */
export class VersionIndex {
  private readonly entries = new Map<string, Entry>()
  private readonly leafDigests = new BigUint64Array(PARTITIONS * LEAVES)
  private readonly partitionDigests = new BigUint64Array(PARTITIONS)
  /** Keys per leaf, for listing the docs of a differing leaf. */
  private readonly leafKeys = new Map<number, Set<string>>()
  /** Deletion times of the docs whose version is `DELETED_VERSION`. */
  private readonly deletions = new Map<string, number>()

  get size(): number {
    return this.entries.size
  }

  /** Every doc this node holds. */
  keys(): IterableIterator<string> {
    return this.entries.keys()
  }

  version(key: string): string | undefined {
    return this.entries.get(key)?.version
  }

  /** Whether the doc is deleted here (its tombstone is stored). */
  isDeleted(key: string): boolean {
    return this.deletions.has(key)
  }

  /** When the doc was deleted, if it was. */
  deletedAt(key: string): number | undefined {
    return this.deletions.get(key)
  }

  /** The doc is deleted here: it keeps a place in the digests, as a tombstone, so replicas compare it. */
  setDeleted(key: string, deletedAt: number): void {
    this.deletions.set(key, deletedAt)
    this.put(key, DELETED_VERSION)
  }

  /** A doc's version (of its content); a deleted doc keeps its tombstone whatever a late refresh says. */
  set(key: string, version: string): void {
    if (this.deletions.has(key)) return
    this.put(key, version)
  }

  private put(key: string, version: string): void {
    const old = this.entries.get(key)
    if (old !== undefined && old.version === version) return
    const { partition, leaf } = old ?? locate(key)
    const hash = hash64(`${key}\u0000${shortVersion(version)}`)
    const slot = partition * LEAVES + leaf
    const delta = (old?.hash ?? 0n) ^ hash
    this.leafDigests[slot] ^= delta
    this.partitionDigests[partition] ^= delta
    this.entries.set(key, { version, partition, leaf, hash })
    if (old === undefined) {
      let keys = this.leafKeys.get(slot)
      if (keys === undefined) this.leafKeys.set(slot, (keys = new Set()))
      keys.add(key)
    }
  }

  delete(key: string): void {
    this.deletions.delete(key)
    const old = this.entries.get(key)
    if (old === undefined) return
    const slot = old.partition * LEAVES + old.leaf
    this.leafDigests[slot] ^= old.hash
    this.partitionDigests[old.partition] ^= old.hash
    this.entries.delete(key)
    this.leafKeys.get(slot)?.delete(key)
  }

  partitionDigest(partition: number): bigint {
    return this.partitionDigests[partition]
  }

  /** The 256 leaf digests of a partition, 8 bytes each, big-endian. */
  leafDigestBytes(partition: number): Uint8Array {
    const out = new Uint8Array(LEAVES * 8)
    const view = new DataView(out.buffer)
    for (let l = 0; l < LEAVES; l++) view.setBigUint64(l * 8, this.leafDigests[partition * LEAVES + l])
    return out
  }

  /** Docs in a leaf (slot = partition × 256 + leaf) with their short versions. */
  docsInLeaf(slot: number): { key: string; version: string }[] {
    const keys = this.leafKeys.get(slot)
    if (keys === undefined) return []
    return [...keys].map((key) => ({ key, version: shortVersion(this.entries.get(key)?.version ?? '') }))
  }
}
