import {
  AwarenessTable,
  type PresenceQuota,
  ErrorCode,
  MurmurError,
  getEngine,
  type ApplyResult,
  type EngineDoc,
  type SyncSession,
} from '@murmur/shared'
import type { DocKey, DocLog } from '../storage/storage.js'
import type { Logger } from '../logger.js'
import { spanUntil, traced, tracedSync, tracingOn } from '../tracing/tracing.js'
import type { ApplyOptions, ReplicaAcks, ReplicaWrites } from './durability.js'
import { HibernationTimer } from './hibernation.js'
import { SizeBudget } from './size-budget.js'

/**
 * Automatic compactions may cost at most this much snapshot-encoding time per update they fold in. An
 * Automerge snapshot of a long history takes long to encode (~0.65 s at 250k ops), so such a doc is
 * compacted less often than the thresholds alone would say: its log grows longer instead, which only
 * costs a little at load.
 */
const SNAPSHOT_MS_PER_UPDATE = 0.2

const BACKGROUND = { background: true } as const

/** A snapshot taken for storage: its bytes, the last log entry it covers, and the counters at that point. */
interface Snapshot {
  readonly bytes: Uint8Array
  readonly upToSeq: number
  readonly updates: number
  readonly updateBytes: number
  readonly growth: number
}

/**
 * Someone who wants a doc's changes: a client socket, an HTTP request, a peer node.
 * Every change is delivered to every subscriber except the one it came from.
 */
export interface DocSubscriber {
  deliverUpdate(update: Uint8Array): void
  deliverAwareness(update: Uint8Array): void
  /** A stateless message (Hocuspocus) for this subscriber's clients; subscribers without such clients omit it. */
  deliverStateless?(payload: string): void
  /** An ephemeral message (automerge-repo) relayed by another node; subscribers that cannot read them omit it. */
  deliverEphemeral?(sender: string, payload: Uint8Array): void
  /** The sender this subscriber's ephemeral messages speak as, once it sent any. */
  readonly presenceId?: string | null
  /** The doc can no longer be served (storage failed); the subscriber must drop it. */
  fail(error: MurmurError): void
}

/** Sees every change of every loaded doc (the cluster's replication hooks in here). */
export interface DocObserver {
  loaded(doc: LiveDoc): void
  /**
   * `update` changed `doc`. `acks` is set when the write that made it waits for replicas: its pushes
   * carry `acks.reqId` (and set `acks.pushed`), so that the replicas answer the push itself.
   */
  changed(doc: LiveDoc, update: Uint8Array, origin: unknown, acks: ReplicaAcks | null): void
  unloaded(doc: LiveDoc): void
}

/** The cluster's presence relay: what this node's clients announce reaches the doc's other nodes. */
export interface PresenceHooks {
  /** The doc got its first subscriber here (on) or lost its last (off). */
  served(doc: LiveDoc, on: boolean): void
  /** `origin`'s awareness entries changed (only what the table accepted, or a removal). */
  announced(doc: LiveDoc, update: Uint8Array, origin: DocSubscriber): void
  /** A subscriber sent an ephemeral message as `sender`. */
  ephemeral(doc: LiveDoc, sender: string, payload: Uint8Array): void
  /** Whether a client of another node speaks as `sender` on the doc. */
  spokenElsewhere(doc: LiveDoc, sender: string): boolean
}

/** What a live doc reports to and asks of the node: every change, and the replicas' acks for writes. */
export interface DocHooks extends DocObserver {
  /** The cluster's write path, or null on a single node. */
  replicas(): ReplicaWrites | null
  /** The cluster's presence relay, or null on a single node. */
  presence?(): PresenceHooks | null
}

/** A wait for replicas on a node without any: the update is applied and stored, and its ack fails. */
function notInACluster(replicas: number): ReplicaAcks {
  const done = Promise.reject(new MurmurError(ErrorCode.REPLICATION_TIMEOUT, `asked for ${replicas} replicas; this node is not in a cluster`))
  done.catch(() => undefined)
  return { reqId: 0, done, pushed: true }
}

export interface LiveDocOptions {
  readonly compactEveryUpdates: number
  readonly compactEveryBytes: number
  readonly maxDocBytes: number
  /**
   * A doc nobody has written to for this long is kept encoded (`EngineDoc.hibernate`), 0 = never. Each
   * time a write wakes it the wait doubles (up to 64×), so a doc edited in bursts is not decoded and
   * encoded at every pause.
   */
  readonly hibernateAfterMs?: number
  /** Clock for timing snapshot encodes (compaction pacing); `performance.now` unless a test sets one. */
  readonly clock?: () => number
}

/**
 * A loaded doc: the engine doc, who is subscribed, and the durable log behind it. Every update enters
 * through `apply` (or, as an engine sync message, `receiveSync`), whatever endpoint it came from: it is
 * applied in arrival order, fanned out to every other subscriber, pushed to the replicas once
 * (`DocHooks.changed`), and appended to storage; the returned promise resolves once the durability asked
 * for holds (this is what an ack waits for).
 */
export class LiveDoc {
  readonly subscribers = new Set<DocSubscriber>()
  readonly awareness = new AwarenessTable()
  /** Resolves when every write so far is durable; rejects if one failed. */
  private durableTail: Promise<void> = Promise.resolve()
  /** Background appends (nobody was waiting for them) of this doc not yet committed. */
  private backgroundPending = 0
  private lastSeq: number
  private updatesSinceSnapshot: number
  private bytesSinceSnapshot: number
  private compacting = false
  /** How long encoding the last snapshot took (ms); 0 until one was made. */
  private lastSnapshotMs = 0
  private failed: MurmurError | null = null
  private readonly quiet: HibernationTimer
  private readonly size: SizeBudget
  private readonly offUpdate: () => void
  /** What an attributed update inserted, as storage records it (`Engine.insertedIds`), if the engine can say. */
  private readonly attribution: ((update: Uint8Array) => string | null) | undefined
  /** The replica acks of the write being applied now (the engine reports its change synchronously). */
  private applying: ReplicaAcks | null = null

  constructor(
    readonly key: DocKey,
    readonly doc: EngineDoc,
    private readonly storage: Pick<DocLog, 'append' | 'flush' | 'compact'>,
    private readonly options: LiveDocOptions,
    private readonly log: Logger,
    stored: { lastSeq: number; updates: number; updateBytes: number; snapshotBytes?: number },
    private readonly hooks: DocHooks | null = null,
  ) {
    const engine = getEngine(key.engine)
    this.attribution = engine.insertedIds?.bind(engine)
    this.size = new SizeBudget(options.maxDocBytes, (stored.snapshotBytes ?? 0) + stored.updateBytes)
    this.quiet = new HibernationTimer(
      options.hibernateAfterMs ?? 0,
      () => this.doc.hibernate !== undefined && this.doc.hibernating !== true,
      () => this.hibernateIfQuiet(),
    )
    this.lastSeq = stored.lastSeq
    this.updatesSinceSnapshot = stored.updates
    this.bytesSinceSnapshot = stored.updateBytes
    this.offUpdate = doc.onUpdate((update, origin) => {
      if (tracingOn()) tracedSync('murmur.doc.fanout', key, () => this.fanOut(update, origin))
      else this.fanOut(update, origin)
      this.hooks?.changed(this, update, origin, this.applying)
    })
    this.quiet.arm()
  }

  /** The doc's log high-water mark: the seq of the last update stored (a version records it). */
  get seq(): number {
    return this.lastSeq
  }

  private fanOut(update: Uint8Array, origin: unknown): void {
    for (const sub of this.subscribers) if (sub !== origin) sub.deliverUpdate(update)
  }

  get isFailed(): boolean {
    return this.failed !== null
  }

  /**
   * Apply engine update bytes `from` a subscriber, a peer, the HTTP API (or null): the one way an
   * update enters a doc. Resolves once `durability` holds (see `Durability`; `local` by default).
   * Throws at once what refuses the update (malformed, too large, the doc failed).
   */
  apply(update: Uint8Array, options: ApplyOptions): Promise<void> {
    if (!tracingOn()) return this.applyNow(update, options)
    return traced('murmur.update', this.key, { 'murmur.arrival': options.via ?? 'internal', 'murmur.update.bytes': update.length }, () => this.applyNow(update, options))
  }

  private applyNow(update: Uint8Array, options: ApplyOptions): Promise<void> {
    this.assertUsable()
    this.size.assertRoom(update.length, () => this.doc.encodeSnapshot().length, () => true)
    const durability = options.durability ?? 'local'
    const replicas = typeof durability === 'object' ? durability.replicas : 0
    const cluster = this.hooks?.replicas() ?? null
    let acks: ReplicaAcks | null = null
    if (cluster !== null && replicas > 0) acks = cluster.expectAcks(this.key, replicas)
    else if (cluster === null && replicas > 1) acks = notInACluster(replicas)
    const wasHibernating = this.doc.hibernating === true
    this.applying = acks
    let applied: ApplyResult
    try {
      applied = tracingOn() ? tracedSync('murmur.doc.apply', this.key, () => this.doc.applyUpdate(update, options.from)) : this.doc.applyUpdate(update, options.from)
    } finally {
      this.applying = null
    }
    this.noteUse(wasHibernating, applied)
    const local = this.persist(applied, durability === 'background', options.by)
    if (acks === null) return local
    // A change went to the replicas with the request; an update that changed nothing here did not, and
    // the replicas may still lack it.
    if (acks.reqId !== 0 && !acks.pushed) cluster?.requestAcks(this.key, acks, update)
    return local.then(() => acks.done)
  }

  /** Handle an engine sync message on `session`; replies are returned at once, durability later. */
  receiveSync(session: SyncSession, message: Uint8Array, origin: unknown, by?: string): { replies: Uint8Array[]; durable: Promise<void> } {
    this.assertUsable()
    this.size.assertRoom(message.length, () => this.doc.encodeSnapshot().length, () => this.carriesChanges(message))
    const wasHibernating = this.doc.hibernating === true
    const { replies, applied } = session.receive(message, origin)
    this.noteUse(wasHibernating, applied)
    return { replies, durable: this.persist(applied, false, by) }
  }

  /**
   * Forward an awareness update from `origin` to everyone else: only the ids `origin` introduced (see
   * `AwarenessTable`), charged to its socket's `quota`.
   */
  relayAwareness(update: Uint8Array, origin: DocSubscriber, quota: PresenceQuota): void {
    const accepted = this.awareness.apply(update, origin, quota)
    if (accepted === null) return
    for (const sub of this.subscribers) if (sub !== origin) sub.deliverAwareness(accepted)
    this.hooks?.presence?.()?.announced(this, accepted, origin)
  }

  /** Hand an ephemeral message from a subscriber to the doc's other nodes (the endpoint serves its own). */
  announceEphemeral(sender: string, payload: Uint8Array): void {
    this.hooks?.presence?.()?.ephemeral(this, sender, payload)
  }

  /** Whether a client of another node already speaks as `sender` on this doc. */
  spokenElsewhere(sender: string): boolean {
    return this.hooks?.presence?.()?.spokenElsewhere(this, sender) === true
  }

  /** Hand a stateless message from `origin` (a subscriber or a peer) to every other subscriber; nothing is stored. */
  relayStateless(payload: string, origin: unknown): void {
    for (const sub of this.subscribers) if (sub !== origin) sub.deliverStateless?.(payload)
  }

  subscribe(sub: DocSubscriber): void {
    if (this.subscribers.has(sub)) return
    this.subscribers.add(sub)
    if (this.subscribers.size === 1) this.hooks?.presence?.()?.served(this, true)
  }

  /** Remove a subscriber and the awareness states it announced. */
  unsubscribe(sub: DocSubscriber): void {
    if (!this.subscribers.delete(sub)) return
    this.dropPresenceOf(sub)
    // Other nodes let another socket speak as this sender once this one is gone (an empty message).
    if (sub.presenceId != null) this.hooks?.presence?.()?.ephemeral(this, sub.presenceId, new Uint8Array())
    if (this.subscribers.size === 0) this.hooks?.presence?.()?.served(this, false)
  }

  private dropPresenceOf(sub: DocSubscriber): void {
    const removal = this.awareness.removeOwner(sub)
    if (removal === null) return
    for (const other of this.subscribers) other.deliverAwareness(removal)
    this.hooks?.presence?.()?.announced(this, removal, sub)
  }

  /** Resolves once every write accepted so far is durable. */
  whenDurable(): Promise<void> {
    this.hurry()
    return this.durableTail
  }

  /** Someone waits for this doc's durability: its background appends commit now, not at their deadline. */
  private hurry(): void {
    if (this.backgroundPending > 0) this.storage.flush().catch(() => undefined)
  }

  /** Updates and bytes appended since the last snapshot. */
  get unsnapshotted(): { readonly updates: number; readonly bytes: number } {
    return { updates: this.updatesSinceSnapshot, bytes: this.bytesSinceSnapshot }
  }

  /** Fold the log into a snapshot now (also done automatically past the thresholds). */
  async compact(): Promise<void> {
    if (this.compacting || this.failed !== null || this.updatesSinceSnapshot === 0) return
    this.compacting = true
    try {
      await this.durableTail
      await this.storeSnapshot(this.takeSnapshot())
    } catch (err) {
      this.log.warn({ err, doc: this.key.docId }, 'compaction failed; the log is kept as it is')
    } finally {
      this.compacting = false
    }
  }

  /**
   * Encode the doc for storage, with what it covers. Synchronous, so nothing is applied in between:
   * everything up to lastSeq is in the doc (once durableTail resolved); later appends may also be in a
   * snapshot that is stored later, which is harmless: replaying an update a doc already holds changes
   * nothing.
   */
  private takeSnapshot(): Snapshot {
    const clock = this.options.clock ?? performance.now.bind(performance)
    const encodeStart = clock()
    const bytes = this.doc.encodeForStorage?.() ?? this.doc.encodeSnapshot()
    this.lastSnapshotMs = clock() - encodeStart
    return { bytes, upToSeq: this.lastSeq, updates: this.updatesSinceSnapshot, updateBytes: this.bytesSinceSnapshot, growth: this.size.growth }
  }

  private async storeSnapshot(snapshot: Snapshot): Promise<void> {
    await this.storage.compact(this.key, snapshot.bytes, snapshot.upToSeq)
    this.updatesSinceSnapshot -= snapshot.updates
    this.bytesSinceSnapshot -= snapshot.updateBytes
    this.size.measured(snapshot.bytes.length, snapshot.growth)
  }

  /** Count a write, and whether it woke the doc from hibernation (which lengthens the next wait). */
  private noteUse(wasHibernating: boolean, applied: ApplyResult): void {
    this.quiet.noteUse(wasHibernating && this.doc.hibernating === false, applied.persist !== null)
  }

  /**
   * Keep the doc encoded once no write came for a while. The encoded state is also the stored snapshot
   * when the log has grown: the doc goes to sleep at once and the snapshot is written behind it (a
   * thousand docs falling idle together must not each wait for their own commit to free their memory).
   */
  private async hibernateIfQuiet(): Promise<void> {
    if (this.failed !== null || this.doc.hibernating !== false || this.doc.hibernate === undefined) return
    const writes = this.quiet.writes
    const durable = await this.durableTail.then(
      () => true,
      () => false,
    )
    // A write that came in meanwhile keeps the doc live (and armed the timer again).
    if (!durable || this.failed !== null || this.quiet.writes !== writes || this.quiet.armed) return
    if (this.compacting) return this.quiet.arm()
    const snapshot = this.updatesSinceSnapshot > 0 ? this.takeSnapshot() : null
    if (!this.doc.hibernate(snapshot?.bytes)) {
      this.quiet.arm()
      return
    }
    if (snapshot === null) return
    this.compacting = true
    try {
      await this.storeSnapshot(snapshot)
    } catch (err) {
      this.log.warn({ err, doc: this.key.docId }, 'compaction failed; the log is kept as it is')
    } finally {
      this.compacting = false
    }
  }

  destroy(): void {
    this.quiet.stop()
    this.offUpdate()
    this.doc.destroy()
  }

  private assertUsable(): void {
    if (this.failed !== null) throw this.failed
  }

  /** Whether a sync message brings the doc anything: a read-only session refuses exactly those. */
  private carriesChanges(message: Uint8Array): boolean {
    try {
      this.doc.createSyncSession({ readOnly: true }).receive(message, null)
      return false
    } catch (err) {
      // Malformed messages are reported by the real session, with their own code.
      return err instanceof MurmurError && err.code === ErrorCode.FORBIDDEN
    }
  }

  private persist(applied: ApplyResult, background = false, by?: string): Promise<void> {
    if (applied.persist === null) {
      // Nothing new to store (a duplicate), but the caller's ack still waits for what came before it.
      if (!background) this.hurry()
      return this.durableTail
    }
    const bytes = applied.persist
    this.size.grew(bytes.length)
    if (background) this.backgroundPending++
    const author = by === undefined ? undefined : { principal: by, ids: this.attribution?.(bytes) ?? null }
    const options = background ? (author ? { background, author } : BACKGROUND) : author && { author }
    const append = spanUntil('murmur.storage.commit', this.key, this.storage.append(this.key, bytes, options)).then(
      (seq) => {
        if (background) this.backgroundPending--
        if (seq > this.lastSeq) this.lastSeq = seq
        this.updatesSinceSnapshot++
        this.bytesSinceSnapshot += bytes.length
        if (
          (this.updatesSinceSnapshot >= this.options.compactEveryUpdates ||
            this.bytesSinceSnapshot >= this.options.compactEveryBytes) &&
          this.updatesSinceSnapshot * SNAPSHOT_MS_PER_UPDATE >= this.lastSnapshotMs
        ) {
          void this.compact()
        }
      },
      (err: unknown) => {
        if (background) this.backgroundPending--
        // The doc in memory now holds a change storage does not: serving on would let a later
        // duplicate of it be acknowledged without being durable. Fail the doc so it reloads from storage.
        const error = new MurmurError(ErrorCode.STORAGE_FAILED, 'storage could not make an update durable', { cause: err })
        this.fail(error)
        throw error
      },
    )
    // Durability is in order: an ack for a later write must not overtake an earlier one that fails.
    const previous = this.durableTail
    this.durableTail = Promise.all([previous, append]).then(() => undefined)
    this.durableTail.catch(() => undefined)
    return this.durableTail
  }

  /** Stop serving this doc and tell every subscriber. */
  fail(error: MurmurError): void {
    if (this.failed !== null) return
    this.failed = error
    if (error.code === ErrorCode.DOC_DELETED) this.log.info({ doc: this.key.docId }, 'doc deleted; its subscribers are dropped')
    else this.log.error({ err: error.cause ?? error, doc: this.key.docId }, 'doc failed; its subscribers are dropped')
    const subs = [...this.subscribers]
    this.subscribers.clear()
    for (const sub of subs) {
      sub.fail(error)
      this.dropPresenceOf(sub)
    }
    if (subs.length > 0) this.hooks?.presence?.()?.served(this, false)
  }
}
