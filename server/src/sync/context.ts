import type { Auth } from '../auth/auth.js'
import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'
import type { DocKey } from '../storage/storage.js'

/** What the sync endpoints need from the cluster (absent on a single node). */
export interface ClusterWrites {
  /**
   * Resolves once `replicas` (≥ 1) replicas hold the update durably, counting this node when it is one
   * and the caller already made the update durable here; rejects with REPLICATION_TIMEOUT.
   */
  replicate(doc: DocKey, update: Uint8Array, replicas: number): Promise<void>
  /**
   * A doc was deleted here (its tombstone is durable): tell the other nodes, which apply it with
   * `DocRegistry.delete`. Optional until the cluster carries tombstones.
   */
  announceDelete?(doc: DocKey, deletedAt: number): void
}

/** What every sync endpoint needs from the node. */
export interface SyncContext {
  readonly config: ServerConfig
  readonly registry: DocRegistry
  readonly log: Logger
  /** This node's id, sent in welcome. */
  readonly nodeId: string
  readonly cluster: ClusterWrites | null
  /** Who may read and write which doc; every endpoint asks it. */
  readonly auth: Auth
  /** Where endpoints report what the node's metrics count; null when nobody counts. */
  readonly metrics: SyncMetrics | null
}

/** What the sync endpoints report to the metrics. */
export interface SyncMetrics {
  /** An update was acknowledged this long after it arrived. */
  acked(seconds: number): void
  /** An error was reported to a client without closing its socket (a per-doc refusal). */
  error(code: string): void
}
