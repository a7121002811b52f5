import type { PresencePolicy } from '@murmur/shared'
import type { Authenticator } from '../auth/auth.js'
import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'
import type { DocKey } from '../storage/storage.js'

/** What every sync endpoint needs from the node. */
export interface SyncContext {
  readonly config: ServerConfig
  readonly registry: DocRegistry
  readonly log: Logger
  /** This node's id, sent in welcome. */
  readonly nodeId: string
  /** Who may read and write which doc; every endpoint asks it. */
  readonly auth: Authenticator
  /** Presence limits of every socket (`PresenceQuota`) and where breaches are counted. */
  readonly presence: PresencePolicy
  /** Where endpoints report what the node's metrics count; null when nobody counts. */
  readonly metrics: SyncMetrics | null
  /** Hand a stateless message (Hocuspocus) to the doc's clients on the other nodes; absent on a single node. */
  readonly broadcastStateless?: (doc: DocKey, payload: string) => void
}

/** What the sync endpoints report to the metrics. */
export interface SyncMetrics {
  /** An update was acknowledged this long after it arrived. */
  acked(seconds: number): void
  /** An error was reported to a client without closing its socket (a per-doc refusal). */
  error(code: string): void
  /** A limit was hit; `limit` is the flag that sets it. */
  limitHit?(limit: string): void
}
