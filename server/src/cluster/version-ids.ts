import { digest as sha256 } from 'lib0/hash/sha256'
import type { DocKey, VersionIdEntry } from '../storage/storage.js'
import { locate } from './placement.js'
import { docKeyString } from './replication.js'

const encoder = new TextEncoder()

/** The version ids of one doc this node holds: live ones and tombstones (deleted). */
export interface DocVersionIds {
  readonly key: DocKey
  readonly partition: number
  readonly live: Set<string>
  readonly deleted: Set<string>
  /** Of the sorted ids with their state; null until asked for after a change. */
  digest: string | null
}

/**
 * Every version id of every doc this node stores, kept in memory (read from storage once at start, then
 * kept current by the node's own version changes and its peers'), with a short digest per doc: two
 * replicas with the same versions and the same deletes have equal digests.
 */
export class VersionIds {
  private readonly docs = new Map<string, DocVersionIds>()

  load(entries: readonly VersionIdEntry[]): void {
    for (const e of entries) {
      if (e.deleted) this.delete(e.key, e.id)
      else this.put(e.key, e.id)
    }
  }

  /** A version is stored here (a deleted one stays deleted: storage keeps its tombstone). */
  put(key: DocKey, id: string): void {
    const doc = this.entry(key)
    if (doc.deleted.has(id) || doc.live.has(id)) return
    doc.live.add(id)
    doc.digest = null
  }

  /** A version is deleted here, or its delete arrived before it. */
  delete(key: DocKey, id: string): void {
    const doc = this.entry(key)
    if (doc.deleted.has(id)) return
    doc.live.delete(id)
    doc.deleted.add(id)
    doc.digest = null
  }

  get(key: string): DocVersionIds | undefined {
    return this.docs.get(key)
  }

  digest(doc: DocVersionIds): string {
    if (doc.digest !== null) return doc.digest
    const ids = [...[...doc.live].map((id) => `+${id}`), ...[...doc.deleted].map((id) => `-${id}`)].sort()
    const h = sha256(encoder.encode(ids.join('\n')))
    doc.digest = Array.from(h.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('')
    return doc.digest
  }

  /** Per partition among `partitions` that holds any version id: the XOR of its docs' digests, as hex. */
  partitionDigests(partitions: readonly number[]): Map<number, string> {
    const sums = new Map<number, bigint>()
    for (const doc of this.inPartitions(partitions).values()) {
      sums.set(doc.partition, (sums.get(doc.partition) ?? 0n) ^ BigInt(`0x${this.digest(doc)}`))
    }
    return new Map([...sums].map(([p, sum]) => [p, sum.toString(16).padStart(16, '0')]))
  }

  /** The docs with any version id in one of `partitions`, by key string. */
  inPartitions(partitions: readonly number[]): Map<string, DocVersionIds> {
    const wanted = new Set(partitions)
    const out = new Map<string, DocVersionIds>()
    for (const [k, doc] of this.docs) if (wanted.has(doc.partition)) out.set(k, doc)
    return out
  }

  private entry(key: DocKey): DocVersionIds {
    const k = docKeyString(key)
    let doc = this.docs.get(k)
    if (doc === undefined) {
      doc = { key: { engine: key.engine, docId: key.docId }, partition: locate(k).partition, live: new Set(), deleted: new Set(), digest: null }
      this.docs.set(k, doc)
    }
    return doc
  }
}
