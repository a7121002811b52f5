import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'
import type { DocKey } from '../storage/storage.js'

/** What the sync endpoints need from the cluster (absent on a single node). */
export interface ClusterWrites {
  /** Resolves once `replicas` replicas hold the update durably; rejects with REPLICATION_TIMEOUT. */
  replicate(doc: DocKey, update: Uint8Array, replicas: number): Promise<void>
}

/** What every sync endpoint needs from the node. */
export interface SyncContext {
  readonly config: ServerConfig
  readonly registry: DocRegistry
  readonly log: Logger
  /** This node's id, sent in welcome. */
  readonly nodeId: string
  readonly cluster: ClusterWrites | null
}
