import type { Authenticator } from '../auth/authenticator.js'
import type { Revocations } from '../auth/revocations.js'
import type { Cluster } from '../cluster/cluster.js'
import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'
import type { ServerMetrics } from '../metrics/metrics.js'
import type { Storage } from '../storage/storage.js'
import type { SyncContext } from '../sync/context.js'
import type { DocVersions } from '../versions/doc-versions.js'
import type { WebhookNotifier } from '../webhooks/notifier.js'

/** What the handlers of the edge table get from the node: its parts, made once in `startServer`. */
export interface NodeContext {
  readonly config: ServerConfig
  readonly log: Logger
  readonly auth: Authenticator
  /** The node's token revocations (the admin routes change them). */
  readonly revocations: Revocations
  readonly registry: DocRegistry
  readonly storage: Storage
  /** The docs' versions (make, read, restore). */
  readonly versions: DocVersions
  readonly metrics: ServerMetrics
  /** What the WebSocket protocol handlers share. */
  readonly sync: SyncContext
  /** Queues `doc.deleted` events; null without webhooks. */
  readonly webhooks: WebhookNotifier | null
  /** The node's cluster part once started; null on a single node (and before it started). */
  cluster(): Cluster | null
  /** The node's own WebSocket URL (known once it listens). */
  selfUrl(): string
  /** The node accepts sockets and requests (storage open, cluster started). */
  ready(): boolean
  /** Why storage can no longer write, or null. */
  storageFailure(): Error | null
}
