/**
 * The seam between Murmur and a CRDT library. The server, the cluster and the client only see these
 * interfaces; each engine is an adapter in a folder of its own (`yjs/`, `automerge/`), found by name in
 * the registry (`registry.ts`).
 */

/**
 * An engine's name, as it appears in doc keys (`<engine>:<docId>`), on the wire and in storage. Any name an
 * engine registers under: `isEngineName` tells whether one is registered.
 */
export type EngineName = string

/**
 * The names of the engines built into Murmur, for code that speaks one engine's own protocol (the
 * y-websocket and automerge-repo endpoints). An engine added later needs no entry here.
 */
export const EngineName = { yjs: 'yjs', automerge: 'automerge' } as const satisfies Record<string, EngineName>

/** What applying remote bytes did to a doc. */
export interface ApplyResult {
  /** The doc's visible state changed. */
  readonly changed: boolean
  /**
   * Bytes to append to durable storage so that what was received survives a restart, or null when the
   * doc already held all of it. May be non-null with `changed` false (Yjs keeps updates whose
   * dependencies are missing as pending; they must be stored all the same).
   */
  readonly persist: Uint8Array | null
}

export const NOTHING_APPLIED: ApplyResult = Object.freeze({ changed: false, persist: null })

/** Listener for every change a doc goes through, local or remote. */
export type UpdateListener = (update: Uint8Array, origin: unknown) => void

/** One live document of some engine. */
export interface EngineDoc {
  readonly engine: EngineName
  /** Apply engine-native update bytes (validated first: malformed bytes throw and change nothing). */
  applyUpdate(update: Uint8Array, origin?: unknown, options?: ApplyOptions): ApplyResult
  /** The whole state, in a form `Engine.load` accepts as a snapshot. */
  encodeSnapshot(): Uint8Array
  /**
   * Optional: the whole state in the form `Engine.load` reads fastest, for storage only (it may carry
   * what the engine would otherwise recompute at load, so it is not an engine-native update).
   */
  encodeForStorage?(): Uint8Array
  /**
   * A digest of the doc's state that changes on every change (deletes included) and is equal for equal
   * states. Hex string.
   */
  version(): string
  /** Called for every change, with the bytes another replica needs to reproduce it. */
  onUpdate(listener: UpdateListener): () => void
  /** A sync session with one peer (a client, or another node). */
  createSyncSession(options?: SyncSessionOptions): SyncSession
  /** A JSON view of the content (for HTTP reads and tests). */
  toJSON(): unknown
  /**
   * Optional: drop the in-memory structures and keep only the encoded state (`encoded`, when the caller
   * just encoded it, or one made here); the next call that needs them rebuilds them. Reads that can be
   * answered from the encoded state (a sync with a new peer, the snapshot, the version) do not. Returns
   * false when the doc cannot hibernate now (Yjs: updates wait for missing dependencies).
   */
  hibernate?(encoded?: Uint8Array): boolean
  /** True while hibernating (see `hibernate`). */
  readonly hibernating?: boolean
  destroy(): void
}

export interface ApplyOptions {
  /**
   * The bytes were checked before: this replica stored them itself, or they come from a server, which
   * checks every update it accepts. They are not validated again, and update listeners get them as they
   * are rather than re-encoded (Yjs). Never set for bytes from a client or another tab.
   */
  readonly trusted?: boolean
}

export interface SyncSessionOptions {
  /** When true, messages from the peer that would change the doc throw a FORBIDDEN MurmurError. */
  readonly readOnly?: boolean
  /** The peer is a server: its updates are applied as `ApplyOptions.trusted`. */
  readonly trustedPeer?: boolean
}

/**
 * Sync with one peer. Engines that need per-peer state (Automerge) keep it here; a new session starts
 * from scratch, which is what a reconnect needs.
 */
export interface SyncSession {
  /** Messages to send when the link to the peer opens. */
  start(): Uint8Array[]
  /** Handle one message from the peer: apply its changes (with `origin`) and return the replies. */
  receive(message: Uint8Array, origin?: unknown): { replies: Uint8Array[]; applied: ApplyResult }
  /**
   * Handle messages that arrived together, in order, with the same outcome as `receive` on each. An engine
   * may apply a run of them as one change (Yjs, from a trusted peer: one transaction, so observers hear
   * the run as one event). A message that fails does not stop the others: its error is in `errors`.
   * For peers whose changes are persisted through update listeners (`receive` also says what to persist).
   */
  receiveAll(messages: readonly Uint8Array[], origin?: unknown): ReceivedAll
  /** Messages that tell the peer about a change the doc just went through. */
  onDocUpdate(update: Uint8Array): Uint8Array[]
  /**
   * The peer sent `update` itself, outside this session (an SDK's update message): engines that track what
   * the peer holds (Automerge) then never send those changes back to it. Optional: Yjs sends the peer
   * only what arrives from others.
   */
  peerHas?(update: Uint8Array): void
  /** True once the peer's state has been merged (Yjs: SyncStep2 received; Automerge: peer heads known). */
  readonly peerStateMerged: boolean
}

export interface ReceivedAll {
  readonly replies: Uint8Array[]
  /** One error per message that could not be handled. */
  readonly errors: unknown[]
}

/** `receiveAll` done one message at a time. */
export function receiveEach(session: SyncSession, messages: readonly Uint8Array[], origin?: unknown): ReceivedAll {
  const replies: Uint8Array[] = []
  const errors: unknown[] = []
  for (const message of messages) {
    try {
      replies.push(...session.receive(message, origin).replies)
    } catch (err) {
      errors.push(err)
    }
  }
  return { replies, errors }
}

export interface Engine {
  /** The name docs of this engine go by: lowercase letters, digits and '-' (it is part of doc keys). */
  readonly name: EngineName
  /**
   * A session's messages for a doc update are the same for every peer (Yjs: one update message, whatever
   * the peer holds), so a fanned-out update can be encoded once for all sockets. False when each peer's
   * messages depend on that peer's own sync state (Automerge).
   */
  readonly sharesUpdateMessages: boolean
  /**
   * A doc found different by anti-entropy is also repaired by pushing its whole state as one update: for
   * engines whose stateful sync can take many rounds to deliver a change that a lost message once carried
   * (Automerge). Engines whose sync converges in one round (Yjs) need not.
   */
  readonly repairsWithSnapshot: boolean
  /** An empty doc. */
  create(): EngineDoc
  /**
   * Load a doc from a snapshot and the updates appended after it. Throws on corrupt bytes, never returns
   * a partial doc silently.
   */
  load(snapshot: Uint8Array | null, updates: Iterable<Uint8Array>): EngineDoc
  /** Combine updates into one, equivalent to applying them all. */
  mergeUpdates(updates: Uint8Array[]): Uint8Array
  /** Throws a MurmurError(INVALID_UPDATE) when bytes are not a well-formed update. */
  validateUpdate(update: Uint8Array): void
  /**
   * Optional: a new forward change that, applied to the doc whose snapshot is `current`, gives it the
   * content of the snapshot `target` (restoring a version); null when they already agree.
   */
  restoreUpdate?(current: Uint8Array, target: Uint8Array): Uint8Array | null
  /**
   * Optional: what an update inserted, as text storage keeps beside its principal (Yjs: its id ranges),
   * so that `textAuthors` can name who wrote each span after compaction folded the update away.
   */
  insertedIds?(update: Uint8Array): string | null
  /**
   * Optional: who wrote each span of the root text `field` of the snapshot `state`, from the change
   * records (`principal` and `insertedIds` of each stored update).
   */
  textAuthors?(state: Uint8Array, field: string, records: readonly { principal: string | null; ids: string | null }[]): { text: string; principal: string | null }[]
}
