import {
  ErrorCode,
  MessageType,
  type EngineDoc,
  type EngineName,
  type Engine,
  type Message,
  type SyncSession,
} from '@murmur/shared/core'
import type { LocalStore, OutboxEntry } from '../store/local-store.js'
import { Origin } from './origin.js'
import { Outbox } from './outbox.js'
import { LocalWrites } from './local-writes.js'
import type { PresenceRelay } from './presence.js'
import type { Logger } from '../logger.js'

export const HandleStatus = {
  /** No server reachable (or offline mode): edits are kept locally. */
  offline: 'offline',
  /** Trying to reach a server. */
  connecting: 'connecting',
  /** Connected; merging states or waiting for acks. */
  syncing: 'syncing',
  /** The server's state is merged and every local change is acknowledged as durable. */
  synced: 'synced',
} as const
export type HandleStatus = (typeof HandleStatus)[keyof typeof HandleStatus]

export { Origin } from './origin.js'

/**
 * After the replicas could not take a write in time (MUR_ERR_REPLICATION_TIMEOUT: one was down or
 * unreachable), the outbox is sent again after this long, jittered up to twice it.
 */
export const REPLICA_RETRY_MS = 1000

/** What a handle needs from its client: sending, ids, and the shared store. */
export interface HandleHost {
  send(msg: Message): boolean
  isConnected(): boolean
  nextUpdateId(): string
  readonly store: Promise<LocalStore>
  readonly log: Logger
  /** Replicas an update must reach before its ack (0/1 = the node it was sent to). */
  readonly replicas: number
  /** Cross-tab channel for this doc, or null. */
  openTabChannel(docKey: string, onUpdate: (update: Uint8Array) => void): ((update: Uint8Array) => void) | null
  handleClosed(handle: DocHandle): void
}

export interface HandleEvents {
  status(status: HandleStatus): void
  /** The number of local updates not yet acknowledged changed. */
  unsaved(count: number): void
  /** The server refused something for this doc. */
  error(error: { code: string; message: string }): void
}

/**
 * The engine-agnostic part of a doc handle: local persistence, the outbox of unacknowledged updates,
 * the sync session with the server, and the status. `YjsHandle` and `AutomergeHandle` add their API.
 */
export class DocHandle {
  readonly docKey: string
  private session: SyncSession | null = null
  private opened = false
  private _status: HandleStatus = HandleStatus.connecting
  private readonly outbox = new Outbox()
  private readonly writes: LocalWrites
  /**
   * Sync messages from the server not yet handed to the session: those read from the socket together
   * (one read often holds several) go in together, at the end of the read (see `drainInbox`).
   */
  private inbox: Uint8Array[] = []
  /** Local edits made but not yet in the store (they count as unsaved too). */
  private pendingLocal = 0
  private readonly loaded: Promise<void>
  private closed = false
  private readonly postToTabs: ((update: Uint8Array) => void) | null
  private readonly offUpdate: () => void
  private replicaRetry: ReturnType<typeof setTimeout> | null = null
  private readonly listeners: { [K in keyof HandleEvents]: Set<HandleEvents[K]> } = {
    status: new Set(),
    unsaved: new Set(),
    error: new Set(),
  }

  constructor(
    readonly engine: Engine,
    readonly docId: string,
    readonly ref: number,
    protected readonly engineDoc: EngineDoc,
    private readonly host: HandleHost,
  ) {
    this.docKey = `${engine.name}:${docId}`
    this.writes = new LocalWrites(this.docKey, host.store, host.log, () => engineDoc.encodeSnapshot())
    this.postToTabs = host.openTabChannel(this.docKey, (update) => this.applyFromTab(update))
    this.offUpdate = engineDoc.onUpdate((update, origin) => this.onDocUpdate(update, origin))
    this.loaded = this.loadLocal()
  }

  get engineName(): EngineName {
    return this.engine.name
  }

  get status(): HandleStatus {
    return this._status
  }

  /** Local updates not yet acknowledged by a server. */
  get unsavedCount(): number {
    return this.outbox.size + this.pendingLocal
  }

  on<K extends keyof HandleEvents>(event: K, listener: HandleEvents[K]): () => void {
    this.listeners[event].add(listener)
    return () => this.listeners[event].delete(listener)
  }

  /** Resolves once the locally stored state is in the doc. */
  whenLoaded(): Promise<void> {
    return this.loaded
  }

  /** Resolves when the status is (next) `synced`. */
  whenSynced(): Promise<void> {
    if (this._status === HandleStatus.synced) return Promise.resolve()
    return new Promise((resolve) => {
      const off = this.on('status', (s) => {
        if (s === HandleStatus.synced) {
          off()
          resolve()
        }
      })
    })
  }

  private async loadLocal(): Promise<void> {
    const store = await this.host.store
    const local = await store.load(this.docKey)
    // Bytes this client stored itself: checked when they were first applied.
    const stored = { trusted: true }
    if (local.snapshot !== null) this.engineDoc.applyUpdate(local.snapshot, Origin.store, stored)
    for (const u of local.updates) this.engineDoc.applyUpdate(u, Origin.store, stored)
    for (const e of local.outbox) {
      // An outbox entry is also in the log, but it may have been written by another tab or a crashed one.
      this.engineDoc.applyUpdate(e.update, Origin.store, stored)
      this.outbox.add(e.id, e.update)
    }
    this.emit('unsaved', this.unsavedCount)
  }

  private onDocUpdate(update: Uint8Array, origin: unknown): void {
    if (this.closed || origin === Origin.store) return
    if (origin === Origin.server) {
      this.writes.appendRemote(update)
      return
    }
    if (origin === Origin.tab) return
    this.commitLocal(update)
  }

  /** A local edit: stored (log + outbox) before it is sent, then sent, then shared with other tabs. */
  private commitLocal(update: Uint8Array): void {
    const entry: OutboxEntry = { id: this.host.nextUpdateId(), update }
    this.postToTabs?.(update)
    this.pendingLocal++
    this.emit('unsaved', this.unsavedCount)
    this.updateStatus()
    this.writes.queue(
      async (store) => {
        await store.appendLocal(this.docKey, entry)
        this.outbox.add(entry.id, entry.update)
        if (this.opened && this.session !== null) this.sendUpdate(entry.id, entry.update)
      },
      (err) => {
        // Not stored: keep it in memory's outbox all the same, so it is still sent and acknowledged.
        this.outbox.add(entry.id, entry.update)
        this.host.log.error('murmur: could not store a local edit', err)
      },
      () => {
        this.pendingLocal--
      },
    )
  }

  private applyFromTab(update: Uint8Array): void {
    try {
      this.engineDoc.applyUpdate(update, Origin.tab)
    } catch (err) {
      this.host.log.warn('murmur: ignoring an undecodable update from another tab', err)
    }
  }

  private sendUpdate(id: string, payload: Uint8Array): void {
    this.host.send({ type: MessageType.update, ref: this.ref, id, replicas: this.host.replicas, payload })
  }

  /** The connection is welcomed: once the local state is loaded, open the doc on the server and sync. */
  attach(): void {
    void this.loaded.then(() => {
      if (this.host.isConnected() && !this.opened) this.openOnServer()
    })
  }

  private openOnServer(): void {
    if (this.closed) return
    // The server checks every update it accepts, so what it sends is not checked again here.
    this.session = this.engineDoc.createSyncSession({ trustedPeer: true })
    this.opened = true
    this.host.send({ type: MessageType.open, ref: this.ref, engine: this.engine.name, docId: this.docId })
    for (const payload of this.session.start()) this.host.send({ type: MessageType.sync, ref: this.ref, payload })
    this.onAttached()
    this.resendOutbox()
    this.updateStatus()
  }

  /** The connection dropped. */
  detach(): void {
    // What arrived before the link dropped is applied all the same.
    this.drainInbox()
    this.session = null
    this.opened = false
    this.outbox.forgetBatches()
    this.onDetached()
    this.updateStatus()
  }

  /** True while the doc is open on a connected server. */
  protected get isOpenOnServer(): boolean {
    return this.opened && this.host.isConnected()
  }

  /** Send a message (for subclasses). */
  protected sendMessage(msg: Message): boolean {
    return this.host.send(msg)
  }

  /** Presence of this doc, when the subclass has one: opened, closed and fed with the doc. */
  protected presence: PresenceRelay | null = null

  private onAttached(): void {
    this.presence?.attached()
  }

  private onDetached(): void {
    this.presence?.detached()
  }

  /**
   * Send every unacknowledged update again on the open doc (after a token refresh: writes the old token
   * had refused may now be allowed). Duplicates are harmless; the server acks what it already holds.
   */
  resendUnsaved(): void {
    if (this.opened && this.host.isConnected()) this.resendOutbox()
  }

  private resendOutbox(): void {
    if (!this.opened || this.outbox.size === 0) return
    for (const [id, update] of this.outbox.resend((updates) => this.engine.mergeUpdates(updates))) this.sendUpdate(id, update)
  }

  /** A message from the server for this doc. */
  receive(msg: Message): void {
    if (this.closed) return
    if (msg.type === MessageType.sync) {
      if (this.session === null) return
      // The socket hands over each message of a read in turn before anything else runs; a microtask runs
      // once the read is done. (A browser hands over one message per task, so there each goes alone.)
      if (this.inbox.push(msg.payload) === 1) queueMicrotask(this.drainInbox)
      return
    }
    // Everything else keeps its place after the sync messages that came before it.
    this.drainInbox()
    switch (msg.type) {
      case MessageType.ack:
        this.acknowledge(msg.ids)
        return
      case MessageType.awareness:
        this.onAwareness(msg.payload)
        return
      case MessageType.error:
        this.emit('error', { code: msg.code, message: msg.message })
        if (msg.code === ErrorCode.REPLICATION_TIMEOUT && msg.updateId !== '') this.retryAfterReplicaTimeout()
        if (msg.code === ErrorCode.LOAD_FAILED || msg.code === ErrorCode.STORAGE_FAILED) {
          // The server could not serve the doc just now; open it again shortly.
          this.opened = false
          this.session = null
          setTimeout(() => {
            if (!this.closed && this.host.isConnected() && !this.opened) this.openOnServer()
          }, 1000)
        }
        this.updateStatus()
        return
      default:
        return
    }
  }

  /**
   * Hand the queued sync messages to the session at once: a run of changes from the server goes into the
   * doc as one change (one Yjs transaction, one event for observers) instead of one per message.
   */
  private readonly drainInbox = (): void => {
    if (this.inbox.length === 0) return
    const messages = this.inbox
    this.inbox = []
    if (this.closed || this.session === null) return
    const { replies, errors } = this.session.receiveAll(messages, Origin.server)
    for (const err of errors) this.host.log.error('murmur: could not apply a sync message', err)
    for (const payload of replies) this.host.send({ type: MessageType.sync, ref: this.ref, payload })
    this.updateStatus()
  }

  /**
   * Send the outbox again a little later: the write that timed out is still in it, and the replica that
   * did not answer may be back, or placement may have moved on from it. Duplicates are harmless.
   */
  private retryAfterReplicaTimeout(): void {
    if (this.replicaRetry !== null) return
    this.replicaRetry = setTimeout(() => {
      this.replicaRetry = null
      if (!this.closed && this.isOpenOnServer) this.resendOutbox()
    }, REPLICA_RETRY_MS * (1 + Math.random()))
  }

  private onAwareness(payload: Uint8Array): void {
    this.presence?.receive(payload)
  }

  private acknowledge(ids: readonly string[]): void {
    const { done, removed } = this.outbox.acknowledge(ids)
    if (removed === 0) return
    this.writes.queue(
      (store) => store.acknowledge(this.docKey, done),
      (err) => this.host.log.error('murmur: could not record an ack', err),
    )
    this.emit('unsaved', this.unsavedCount)
    this.updateStatus()
  }

  /** Recompute the status from the connection, the session and the outbox. */
  updateStatus(): void {
    let next: HandleStatus
    if (!this.host.isConnected()) next = this.connectionStatus()
    else if (this.session === null || !this.session.peerStateMerged || this.unsavedCount > 0) next = HandleStatus.syncing
    else next = HandleStatus.synced
    if (next === this._status) return
    this._status = next
    this.emit('status', next)
  }

  /** Set by the client: what to show while not connected. */
  connectionStatus: () => HandleStatus = () => HandleStatus.connecting

  /** Stop syncing this doc; local data stays in the store. */
  async close(): Promise<void> {
    if (this.closed) return
    this.drainInbox()
    // Tell the others we left before the doc goes away.
    this.presence?.close()
    this.presence = null
    await this.writes.done()
    this.closed = true
    if (this.replicaRetry !== null) clearTimeout(this.replicaRetry)
    if (this.opened) this.host.send({ type: MessageType.close, ref: this.ref })
    this.offUpdate()
    this.host.handleClosed(this)
  }

  /** Resolves once every local write so far reached the local store. */
  whenStored(): Promise<void> {
    this.drainInbox()
    return this.writes.done()
  }

  protected emit<K extends keyof HandleEvents>(event: K, ...args: Parameters<HandleEvents[K]>): void {
    for (const l of this.listeners[event]) (l as (...a: Parameters<HandleEvents[K]>) => void)(...args)
  }
}
