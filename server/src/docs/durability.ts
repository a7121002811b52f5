import type { DocKey } from '../storage/storage.js'

/**
 * How durable an update must be before `LiveDoc.apply` resolves:
 * - `background`: stored with whatever commits next, nobody waits (a copy another node already made
 *   durable before it acknowledged);
 * - `local`: this node's fsync;
 * - `{ replicas: W }`: this node's fsync and W of the doc's replicas holding it durably (this node
 *   counts when it is one); W = 0 is `local`.
 */
export type Durability = 'background' | 'local' | { readonly replicas: number }

/** What an update is applied with: who it came from (never sent back to it) and the durability asked. */
export interface ApplyOptions {
  /** A subscriber, a peer's origin, the HTTP API, or null. */
  readonly from: unknown
  /** `local` unless said otherwise. */
  readonly durability?: Durability
  /**
   * The principal the update came from (`principalOf` the writer's identity), stored with it. Pushes from
   * peers carry none: the node that took the write recorded it.
   */
  readonly by?: string
  /** Where the update arrived (`sync`, `http`, `peer`): a trace attribute. */
  readonly via?: string
}

/**
 * Acknowledgements a write waits for from other nodes. `reqId` travels with the push of the change
 * (`docUpdate`), so a replica that makes it durable answers it: the change crosses the peer link once.
 */
export interface ReplicaAcks {
  /** The request id pushes carry; 0 when no replica needs to answer (`done` already settled). */
  readonly reqId: number
  /** Resolves once enough replicas answered; rejects with REPLICATION_TIMEOUT. */
  readonly done: Promise<void>
  /** Set once a push carrying `reqId` went to the replicas. */
  pushed: boolean
}

/** The cluster's side of a write that waits for replicas (`Replication`). */
export interface ReplicaWrites {
  /** Open a wait for `replicas` replicas of `doc`, before the change is applied (and pushed). */
  expectAcks(doc: DocKey, replicas: number): ReplicaAcks
  /** The update changed nothing here, so nothing was pushed: ask the replicas for it with `acks`. */
  requestAcks(doc: DocKey, acks: ReplicaAcks, update: Uint8Array): void
}
