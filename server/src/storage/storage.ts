import type { DocId, EngineName, VersionDescription } from '@murmur/shared'

/** How an append may be committed. */
export interface AppendOptions {
  /**
   * Nobody waits for this append to be durable (a replica taking a peer's push that asked for no ack):
   * it may wait longer for company than an append someone waits for (`CommitTuning.backgroundCommitMs`).
   * An append that is waited for takes every background append queued before it along in its commit.
   */
  readonly background?: boolean
  /**
   * Who the update came from, stored beside it in the doc's change record (which compaction keeps):
   * the token's subject, "anonymous", or a peer's principal. Appends without one are recorded unattributed.
   */
  readonly author?: Author
}

/** The principal an update came from, and what it inserted when the engine can say (Yjs: id ranges). */
export interface Author {
  readonly principal: string
  /** Engine-specific description of what the update inserted (JSON text), or null. */
  readonly ids: string | null
}

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

/** One entry of a doc's log, described without its bytes (history listings). */
export interface LogEntryInfo {
  readonly seq: number
  readonly bytes: number
  /** When the append committed (ms since the epoch); null for entries stored before times were kept. */
  readonly at: number | null
}

/** What is stored of a doc's past: the snapshot the log continues from, then the log entries. */
export interface DocHistory {
  /** The snapshot: the doc's state up to and including `upToSeq`. Null when the doc was never compacted. */
  readonly snapshot: { readonly upToSeq: number; readonly bytes: number; readonly at: number | null } | null
  /** Log entries after the snapshot (and after `afterSeq`), in seq order, at most `limit` of them. */
  readonly entries: LogEntryInfo[]
  /** The doc's high-water mark. */
  readonly lastSeq: number
}

export interface HistoryOptions {
  /** Only entries with a larger seq (paging). */
  readonly afterSeq?: number
  readonly limit?: number
}

/** The record a deleted doc leaves behind, so that it is not silently brought back. */
export interface Tombstone {
  /** When it was deleted (ms since the epoch). */
  readonly deletedAt: number
}

/** A message waiting in the durable outbox (webhook deliveries). */
export interface OutboxMessage {
  /** Unique; receivers use it as the idempotency key. */
  readonly id: string
  readonly body: string
  /** Not sent before this time (ms since the epoch). */
  readonly dueAt: number
  /** Failed delivery attempts so far. */
  readonly attempts: number
  readonly createdAt: number
  readonly lastError: string | null
  /**
   * The W3C trace contexts (`traceparent` values) of the updates the message stands for, first one first;
   * empty when tracing was off. Its delivery is traced as part of the first one's trace.
   */
  readonly trace: readonly string[]
}

/** A message as it is put into the outbox. */
export interface OutboxInput {
  readonly id: string
  readonly body: string
  readonly dueAt: number
  /** See `OutboxMessage.trace`; replaced along with the body. */
  readonly trace?: readonly string[]
}

/**
 * A durable queue of messages to send at least once. Writes are durable when they resolve; nothing
 * leaves it but `outboxDone`.
 */
export interface Outbox {
  /**
   * Add messages, or replace the body and due time of those whose id is known (their attempts stay), in
   * one transaction.
   */
  outboxPut(messages: readonly OutboxInput[]): Promise<void>
  /** Messages due at `now`, earliest first, at most `limit`. */
  outboxDue(now: number, limit: number): Promise<OutboxMessage[]>
  /** Record a failed attempt and when to try again. */
  outboxRetry(id: string, dueAt: number, error: string): Promise<void>
  /** The message was delivered: remove it. */
  outboxDone(id: string): Promise<void>
  /** Messages waiting, due or not. */
  outboxCount(): Promise<number>
}

/** Counters a backend exposes so tests and metrics can see group commit at work. */
export interface StorageStats {
  /** Transactions that made appends durable. */
  readonly commits: number
  /** Appends accepted. Under concurrency, many appends share one commit. */
  readonly appends: number
}

/**
 * A doc's log: what a live doc needs (append, flush, compact) and what loading and listing docs need
 * (a doc is removed by its tombstone, `Tombstones`). The part of storage every backend must have for docs to be served at all.
 */
export interface DocLog {
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
  append(key: DocKey, update: Uint8Array, options?: AppendOptions): Promise<number>
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
}

/** A doc's past as storage keeps it: for the history and read-at-a-version routes. */
export interface DocArchive {
  /**
   * What storage keeps of the doc's past, or null if nothing is stored. Entry times are those of the
   * commits; sizes are the stored bytes.
   */
  history(key: DocKey, options?: HistoryOptions): Promise<DocHistory | null>
  /**
   * The doc as it was right after the entry `seq`: the snapshot and the entries up to and including
   * `seq`. Throws MurmurError VERSION_UNAVAILABLE when `seq` lies before the snapshot (compaction folded
   * it away). Null when nothing is stored. Never repairs anything (a read of the past).
   */
  loadAt(key: DocKey, seq: number): Promise<StoredDoc | null>
}

/** A version described without its state, its time in ms since the epoch. */
export type VersionInfo = VersionDescription<number>

/** A version as storage keeps it: who made it, when, and the doc's whole state at that point. */
export interface StoredVersion extends Omit<VersionInfo, 'bytes'> {
  /** The doc's encoded state (`EngineDoc.encodeSnapshot`). */
  readonly state: Uint8Array
}

/** One stored update's record: kept whatever compaction does, removed with the doc. */
export interface ChangeRecord {
  readonly seq: number
  /** Null for updates stored before attribution was kept, or appended without an author. */
  readonly principal: string | null
  readonly at: number
  readonly ids: string | null
}

/** One version id a node holds, live or deleted (what anti-entropy compares between replicas). */
export interface VersionIdEntry {
  readonly key: DocKey
  readonly id: string
  readonly deleted: boolean
}

/** Versions of a doc and the record of who changed it: kept until deleted, whatever compaction does. */
export interface VersionStore {
  /** Store a version; storing one whose id is known changes nothing (replicas receive it more than once). */
  putVersion(key: DocKey, version: StoredVersion): Promise<void>
  /** The doc's versions, oldest first. */
  versions(key: DocKey): Promise<VersionInfo[]>
  /** One version with its state, or null. */
  version(key: DocKey, id: string): Promise<StoredVersion | null>
  /**
   * Remove a version; false if it was not there. Its id is remembered (a version tombstone, without its
   * state): a later `putVersion` of it changes nothing, so a replica that missed the delete cannot bring
   * the version back. The tombstones go with the doc.
   */
  deleteVersion(key: DocKey, id: string): Promise<boolean>
  /** Every version id stored, of every doc: the live ones and the tombstones. */
  versionIds(): Promise<VersionIdEntry[]>
  /** The change records with `afterSeq < seq <= upToSeq`, in seq order. */
  changes(key: DocKey, afterSeq: number, upToSeq: number): Promise<ChangeRecord[]>
}

/** Deleted docs, remembered so that they are not silently brought back. */
export interface Tombstones {
  /**
   * Delete the doc's snapshot and log and record a tombstone, in one transaction, after committing the
   * appends made before the call. The caller keeps the doc from being loaded or written afterwards.
   */
  tombstone(key: DocKey, deletedAt: number): Promise<void>
  /** The doc's tombstone, or null if it was not deleted. */
  tombstoneOf(key: DocKey): Promise<Tombstone | null>
  /** Tombstoned docs with their deletion times, ordered by (engine, docId), paged like `list`. */
  listTombstones(options?: ListOptions): Promise<TombstonedDoc[]>
}

/** A deleted doc and when it was deleted. */
export interface TombstonedDoc extends DocKey, Tombstone {}

/**
 * A hint of hinted handoff: the cluster node `peer` (a node id) may lack changes of the doc, which this
 * node took while it could not reach that peer. Kept until the node hands the doc over.
 */
export interface Hint {
  readonly peer: string
  readonly doc: DocKey
}

/** Hints kept across restarts, so that a node that restarts while a replica is down still hands its writes over. */
export interface HintStore {
  /** Store hints (durable when it resolves); a hint already stored changes nothing. */
  putHints(hints: readonly Hint[]): Promise<void>
  /** Every stored hint, ordered by (peer, engine, docId). */
  hints(): Promise<Hint[]>
  /** Forget every hint for `peer` (it was handed its docs, or it left the cluster). */
  deleteHints(peer: string): Promise<void>
}

/** The backend as a whole: its name, what its commits do, and its end. */
export interface StorageLifecycle {
  /** Human-readable name for logs: "sqlite:/path", "memory", "postgres://host/db". */
  readonly description: string
  /**
   * Observe every group commit: its duration in seconds and the number of appends it made durable
   * (for the storage commit latency metric).
   */
  onCommit(listener: (seconds: number, appends: number) => void): void
  /**
   * Optional: called once if the store can no longer write at all until the process restarts (SQLite:
   * its writer thread died). Every write fails from then on; reads may still work.
   */
  onFatal?(listener: (error: Error) => void): void
  /** Flush and release resources. */
  close(): Promise<void>
}

/**
 * Durable storage of docs as an append-only update log per doc plus a snapshot (event sourcing with
 * snapshots). A backend implements every role; a caller asks for the role it uses (a live doc a `DocLog`,
 * the webhook deliverer an `Outbox`, the history routes a `DocArchive`). Every backend passes the same
 * acceptance suite (`runStorageAcceptance` from `@murmur/server/testing`), which covers every role.
 */
export interface Storage extends DocLog, DocArchive, VersionStore, Tombstones, HintStore, Outbox, StorageLifecycle {}
