import type { DocId, EngineName } from '@murmur/shared'

/** A document is named by (engine, id); the two engines are separate namespaces. */
export interface DocKey {
  readonly engine: EngineName
  readonly docId: DocId
}

/** What storage holds for one doc: the latest snapshot and the updates appended after it, in order. */
export interface StoredDoc {
  readonly snapshot: Uint8Array | null
  readonly updates: Uint8Array[]
  /** Sequence number of the last update in `updates` (or of the last one folded into the snapshot). */
  readonly lastSeq: number
  /** Total bytes of `updates`; compaction uses it. */
  readonly updateBytes: number
  /** Log entries found corrupt at load (checksum mismatch) and dropped; 0 normally. */
  readonly droppedCorrupt: number
}

export interface ListOptions {
  readonly engine?: EngineName
  /** Return docs whose id sorts after this one (paging). */
  readonly after?: string
  readonly limit?: number
}

/**
 * Durable storage of docs as an append-only update log per doc plus a snapshot (event sourcing with
 * snapshots). Every backend passes the same acceptance suite (test/unit/storage-acceptance.ts).
 */
export interface Storage {
  /** Human-readable name for logs: "sqlite:/path", "memory", "postgres://host/db". */
  readonly description: string
  /**
   * Everything stored for a doc, or null if nothing is. Entries whose checksum does not match (a torn or
   * corrupt tail) are dropped and counted in `droppedCorrupt`; the rest is returned. Throws when the
   * backend cannot be read at all: the caller must not treat a failure as an empty doc.
   */
  load(key: DocKey): Promise<StoredDoc | null>
  /**
   * Append one update to the doc's log. Resolves with its sequence number once it is durable (after the
   * fsync of the group commit it joined), rejects if it could not be made durable.
   */
  append(key: DocKey, update: Uint8Array): Promise<number>
  /** Resolves once everything appended before the call is durable. */
  flush(): Promise<void>
  /**
   * Atomically store `snapshot` as the doc's state up to and including `upToSeq`, and drop the log
   * entries it covers. Entries appended after `upToSeq` stay.
   */
  compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void>
  /** Docs with anything stored, ordered by (engine, docId). */
  list(options?: ListOptions): Promise<DocKey[]>
  /** Remove a doc and its log. */
  delete(key: DocKey): Promise<void>
  /** Flush and release resources. */
  close(): Promise<void>
}
