/**
 * Where the SDK keeps docs on the device: an update log per doc (compacted into a snapshot) and an
 * outbox of local updates no server has acknowledged yet. One store holds every doc: storage does not
 * grow per handle. Adapters: IndexedDB (browser), memory (Node, tests).
 */
export interface OutboxEntry {
  /** Client-chosen id; the server's ack names it. Ids sort in the order the updates were made. */
  readonly id: string
  readonly update: Uint8Array
}

export interface LocalDoc {
  readonly snapshot: Uint8Array | null
  readonly updates: Uint8Array[]
  readonly outbox: OutboxEntry[]
}

export interface LocalStore {
  /** Everything stored for a doc (empty when new). */
  load(docKey: string): Promise<LocalDoc>
  /** A local edit: written to the log and the outbox in one transaction. */
  appendLocal(docKey: string, entry: OutboxEntry): Promise<void>
  /** Changes from elsewhere (server, other tabs), in the order they arrived: log only, in one transaction. */
  appendRemote(docKey: string, updates: readonly Uint8Array[]): Promise<void>
  /** The server made these durable: drop them from the outbox (the log keeps them). */
  acknowledge(docKey: string, ids: readonly string[]): Promise<void>
  /** Replace the log with a snapshot of the doc; the outbox stays. */
  compact(docKey: string, snapshot: Uint8Array): Promise<void>
  /** Number of log entries since the last snapshot (to decide when to compact). */
  logLength(docKey: string): Promise<number>
  close(): Promise<void>
}
