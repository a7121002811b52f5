import { EventEmitter } from 'node:events'
import { ErrorCode, MurmurError, getEngine } from '@murmur/shared'
import type { DocKey, DocLog, Tombstones } from '../storage/storage.js'
import type { Logger } from '../logger.js'
import { LiveDoc, type DocHooks, type DocObserver, type DocSubscriber, type LiveDocOptions, type PresenceHooks } from './live-doc.js'
import type { ReplicaWrites } from './durability.js'

export interface DocRegistryOptions extends LiveDocOptions {
  readonly idleUnloadMs: number
}

export interface RegistryStats {
  loads: number
  unloads: number
  loadFailures: number
}

/** A clean shutdown compacts docs whose log has at least this many updates or bytes since their snapshot. */
const CLOSE_COMPACT_UPDATES = 100
const CLOSE_COMPACT_BYTES = 64 * 1024

function deletedError(key: DocKey): MurmurError {
  return new MurmurError(ErrorCode.DOC_DELETED, `${key.engine}:${key.docId.slice(0, 80)} was deleted`)
}

function keyString(key: DocKey): string {
  return `${key.engine}\u0000${key.docId}`
}

/**
 * Loaded docs by key. However many subscribers ask for a doc at once, storage is read once; nobody gets
 * the doc before its load finished; a failed load is an error for every waiter and is never turned into
 * an empty doc. Docs without subscribers are unloaded after `idleUnloadMs`.
 */
export class DocRegistry extends EventEmitter<{ load: [DocKey]; unload: [DocKey] }> {
  private readonly loading = new Map<string, Promise<LiveDoc>>()
  private readonly loaded = new Map<string, LiveDoc>()
  private readonly idleTimers = new Map<string, NodeJS.Timeout>()
  /**
   * How often each loaded doc was handed out (`get`): an unload that finds the count changed while it
   * waited for durability and compaction leaves the doc loaded, since someone is using it.
   */
  private readonly uses = new WeakMap<LiveDoc, number>()
  readonly stats: RegistryStats = { loads: 0, unloads: 0, loadFailures: 0 }
  private closed = false
  /** Docs being deleted: not loaded again while their tombstone is written. */
  private readonly deleting = new Set<string>()
  /** The cluster's replication, set before any doc is loaded; null on a single node. */
  replication: (DocObserver & ReplicaWrites) | null = null
  /** Why no doc may be served now (the cluster refuses this node's id), or null; set by the cluster. */
  gate: (() => MurmurError | null) | null = null
  /** The cluster's presence relay, set with `replication`; null on a single node. */
  presence: PresenceHooks | null = null
  /** Others that see every loaded doc (metrics, webhooks); told after `replication`. */
  readonly watchers: DocObserver[] = []
  private readonly fanout: DocHooks = {
    loaded: (doc) => {
      this.replication?.loaded(doc)
      for (const w of this.watchers) w.loaded(doc)
    },
    changed: (doc, update, origin, acks) => {
      this.replication?.changed(doc, update, origin, acks)
      for (const w of this.watchers) w.changed(doc, update, origin, acks)
    },
    unloaded: (doc) => {
      this.replication?.unloaded(doc)
      for (const w of this.watchers) w.unloaded(doc)
    },
    replicas: () => this.replication,
    presence: () => this.presence,
  }

  constructor(
    private readonly storage: DocLog & Tombstones,
    private readonly options: DocRegistryOptions,
    private readonly log: Logger,
  ) {
    super()
  }

  get loadedCount(): number {
    return this.loaded.size
  }

  /** Loaded docs kept encoded (`EngineDoc.hibernating`). */
  hibernatingCount(): number {
    let n = 0
    for (const doc of this.loaded.values()) if (doc.doc.hibernating === true) n++
    return n
  }

  /** Every loaded doc (a snapshot of the set). */
  loadedDocs(): LiveDoc[] {
    return [...this.loaded.values()]
  }

  /** The doc if it is loaded now (no storage access). */
  peek(key: DocKey): LiveDoc | undefined {
    return this.loaded.get(keyString(key))
  }

  /** Load (once) and subscribe. Rejects with LOAD_FAILED when storage cannot be read. */
  async acquire(key: DocKey, sub: DocSubscriber): Promise<LiveDoc> {
    const doc = await this.get(key)
    this.cancelIdle(keyString(key))
    doc.subscribe(sub)
    return doc
  }

  /** Unsubscribe; the doc is unloaded once idle for long enough. */
  release(doc: LiveDoc, sub: DocSubscriber): void {
    doc.unsubscribe(sub)
    if (doc.subscribers.size === 0) this.scheduleIdle(doc)
  }

  /** The loaded doc, loading it if needed, without subscribing (HTTP reads). */
  async get(key: DocKey): Promise<LiveDoc> {
    if (this.closed) throw new MurmurError(ErrorCode.SHUTTING_DOWN, 'server is shutting down')
    const refused = this.gate?.() ?? null
    if (refused !== null) throw refused
    const k = keyString(key)
    const live = this.loaded.get(k)
    if (live !== undefined && !live.isFailed) {
      // An HTTP read or write, a version being made: the doc is in use, so its idle wait starts again.
      this.uses.set(live, (this.uses.get(live) ?? 0) + 1)
      if (live.subscribers.size === 0) this.scheduleIdle(live)
      return live
    }
    if (live !== undefined) this.drop(k, live)
    let pending = this.loading.get(k)
    if (pending === undefined) {
      pending = this.load(key)
      this.loading.set(k, pending)
      pending.then(
        () => this.loading.delete(k),
        () => this.loading.delete(k),
      )
    }
    return pending
  }

  private async load(key: DocKey): Promise<LiveDoc> {
    this.stats.loads++
    const engine = getEngine(key.engine)
    if (this.deleting.has(keyString(key))) throw deletedError(key)
    let stored
    try {
      const [found, tombstone] = await Promise.all([this.storage.load(key), this.storage.tombstoneOf(key)])
      if (tombstone !== null) throw deletedError(key)
      stored = found
    } catch (err) {
      if (err instanceof MurmurError && err.code === ErrorCode.DOC_DELETED) throw err
      this.stats.loadFailures++
      this.log.error({ err, doc: key.docId }, 'doc load failed')
      throw new MurmurError(ErrorCode.LOAD_FAILED, 'the doc could not be loaded from storage', { cause: err })
    }
    let engineDoc
    try {
      engineDoc = stored === null ? engine.create() : engine.load(stored.snapshot, stored.updates)
    } catch (err) {
      this.stats.loadFailures++
      this.log.error({ err, doc: key.docId }, 'stored doc could not be decoded')
      throw new MurmurError(ErrorCode.LOAD_FAILED, 'the stored doc could not be decoded', { cause: err })
    }
    if (stored !== null && stored.droppedCorrupt > 0) {
      this.log.warn({ doc: key.docId, dropped: stored.droppedCorrupt }, 'dropped corrupt log entries at load')
    }
    const doc = new LiveDoc(key, engineDoc, this.storage, this.options, this.log, {
      lastSeq: stored?.lastSeq ?? 0,
      updates: stored?.updates.length ?? 0,
      updateBytes: stored?.updateBytes ?? 0,
      snapshotBytes: stored?.snapshot?.length ?? 0,
    }, this.fanout)
    this.loaded.set(keyString(key), doc)
    this.emit('load', key)
    this.fanout.loaded(doc)
    // A doc nobody subscribes to (an HTTP read) still gets unloaded.
    this.scheduleIdle(doc)
    return doc
  }

  private scheduleIdle(doc: LiveDoc): void {
    const k = keyString(doc.key)
    this.cancelIdle(k)
    const timer = setTimeout(() => {
      this.idleTimers.delete(k)
      void this.unloadIfIdle(doc)
    }, this.options.idleUnloadMs)
    timer.unref()
    this.idleTimers.set(k, timer)
  }

  private cancelIdle(k: string): void {
    const timer = this.idleTimers.get(k)
    if (timer !== undefined) {
      clearTimeout(timer)
      this.idleTimers.delete(k)
    }
  }

  private async unloadIfIdle(doc: LiveDoc): Promise<void> {
    if (doc.subscribers.size > 0) return
    const uses = this.uses.get(doc) ?? 0
    try {
      // The doc stays registered (and servable) until its writes are durable: a reload before that could
      // miss them.
      await doc.whenDurable()
      await doc.compact()
    } catch {
      // A failed doc is dropped below all the same.
    }
    // Handed out meanwhile (its idle wait started again): whoever got it may still be using it, and a
    // destroyed doc under them would fail their reads and writes.
    if (doc.subscribers.size > 0 || (this.uses.get(doc) ?? 0) !== uses) return
    this.drop(keyString(doc.key), doc)
  }

  private drop(k: string, doc: LiveDoc): void {
    if (this.loaded.get(k) !== doc) return
    this.loaded.delete(k)
    this.cancelIdle(k)
    this.fanout.unloaded(doc)
    doc.destroy()
    this.stats.unloads++
    this.emit('unload', doc.key)
  }

  /**
   * Delete a doc for good: its subscribers are dropped with DOC_DELETED, and storage replaces its data
   * with a tombstone, so it is neither loaded nor written again.
   */
  async delete(key: DocKey, deletedAt: number): Promise<void> {
    const k = keyString(key)
    this.deleting.add(k)
    try {
      await this.loading.get(k)?.catch(() => undefined)
      const live = this.loaded.get(k)
      if (live !== undefined) {
        live.fail(deletedError(key))
        await live.whenDurable().catch(() => undefined)
        this.drop(k, live)
      }
      await this.storage.tombstone(key, deletedAt)
    } finally {
      this.deleting.delete(k)
    }
  }

  /**
   * Wait for durability of every loaded doc, fold the longer logs into snapshots (so the next start loads
   * those docs in one piece; each is a commit of its own, so short logs, quick to replay, are left for
   * later and do not hold up a restart), then unload all.
   */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.loading.values()])
    const docs = [...this.loaded.values()]
    await Promise.allSettled(docs.map((d) => d.whenDurable()))
    const worth = docs.filter((d) => d.unsnapshotted.updates >= CLOSE_COMPACT_UPDATES || d.unsnapshotted.bytes >= CLOSE_COMPACT_BYTES)
    await Promise.allSettled(worth.map((d) => d.compact()))
    for (const d of docs) this.drop(keyString(d.key), d)
  }
}
