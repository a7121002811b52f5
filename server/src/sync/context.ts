import type { ServerConfig } from '../config.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'

/** What every sync endpoint needs from the node. */
export interface SyncContext {
  readonly config: ServerConfig
  readonly registry: DocRegistry
  readonly log: Logger
  /** This node's id, sent in welcome. */
  readonly nodeId: string
}
