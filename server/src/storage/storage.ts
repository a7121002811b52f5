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
  /**
   * Log entries dropped at load because of a checksum mismatch; 0 normally. A bad entry makes everything
   * after it suspect (a torn tail), so this counts the first corrupt entry and every entry after it.
   */
  readonly droppedCorrupt: number
}

export interface ListOptions {
  readonly engine?: EngineName
  /** Return docs whose id sorts after this one (paging). Ids compare by their UTF-8 bytes. */
  readonly after?: string
  /**
   * When listing every engine, the engine of the last doc of the previous page: paging continues after
   * (afterEngine, after) in (engine, docId) order. Without it, `after` applies within each engine.
   */
  readonly afterEngine?: EngineName
  readonly limit?: number
}

/** Counters a backend exposes so tests and metrics can see group commit at work. */
export interface StorageStats {
  /** Transactions that made appends durable. */
  readonly commits: number
  /** Appends accepted. Under concurrency, many appends share one commit. */
  readonly appends: number
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
   * fsync of the group commit it joined), rejects if it could not be made durable. Sequence numbers grow
   * per doc and are never reused, not even after compaction.
   */
  append(key: DocKey, update: Uint8Array): Promise<number>
  /** Resolves once everything appended before the call is durable. */
  flush(): Promise<void>
  /**
   * Atomically store `snapshot` as the doc's state up to and including `upToSeq`, and drop the log
   * entries it covers. Entries appended after `upToSeq` stay. A compaction older than the stored
   * snapshot (smaller `upToSeq`) is ignored, since the entries between the two are already gone.
   */
  compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void>
  /** Docs with anything stored, ordered by (engine, docId). */
  list(options?: ListOptions): Promise<DocKey[]>
  /** Remove a doc and its log (after committing appends to it made before the call). */
  delete(key: DocKey): Promise<void>
  /** Flush and release resources. */
  close(): Promise<void>
}
