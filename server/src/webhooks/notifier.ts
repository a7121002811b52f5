import { randomUUID } from 'node:crypto'
import type { DocObserver, LiveDoc } from '../docs/live-doc.js'
import type { Logger } from '../logger.js'
import type { DocKey, Outbox, OutboxInput } from '../storage/storage.js'
import { activeTraceparent } from '../tracing/tracing.js'
import type { WebhookEvent } from './events.js'

/**
 * Most updates one event's delivery span refers to (the first as its parent, the others as links); a
 * window of more changes refers to its first ones.
 */
export const MAX_TRACED_CHANGES = 32

export interface NotifierOptions {
  /** Changes to one doc within this long of its first one become one event. */
  readonly debounceMs: number
  readonly nodeId: () => string
  /** Changes from these origins are not announced (changes replicated from another node, which announces them). */
  readonly ignoreOrigin: (origin: unknown) => boolean
  /** Called when a message became due, so delivery need not wait for its next poll. */
  readonly onDue: () => void
}

/** One doc's open debounce window. */
interface Window {
  readonly id: string
  readonly key: DocKey
  readonly firstAt: number
  lastAt: number
  changes: number
  doc: LiveDoc
  version: string | null
  timer: NodeJS.Timeout
  /** The durable record of the window; the final body is written after it. */
  written: Promise<void>
  /** The trace contexts of its changes (none when tracing is off), first first, at most MAX_TRACED_CHANGES. */
  readonly trace: string[]
}

/**
 * Turns doc changes into webhook messages in the durable outbox. The first change of a window writes
 * the message at once (due when the window ends), so a crash inside the window cannot lose the
 * notification; when the window ends, the message gets its final body (the version after the last
 * change and the number of changes) and becomes due.
 */
export class WebhookNotifier implements DocObserver {
  private readonly windows = new Map<string, Window>()
  private closed = false
  /** Writes waiting for the next batch: every doc's first change in one turn of the event loop shares it. */
  private batch: { message: OutboxInput; resolve(): void; reject(err: unknown): void }[] = []

  constructor(
    private readonly outbox: Outbox,
    private readonly options: NotifierOptions,
    private readonly log: Logger,
  ) {}

  loaded(): void {}

  changed(doc: LiveDoc, _update: Uint8Array, origin: unknown): void {
    if (this.closed || this.options.ignoreOrigin(origin)) return
    const k = `${doc.key.engine}\u0000${doc.key.docId}`
    const now = Date.now()
    // The change is reported inside the span of the update that made it (when tracing).
    const traceparent = activeTraceparent()
    const open = this.windows.get(k)
    if (open !== undefined) {
      if (traceparent !== '' && open.trace.length < MAX_TRACED_CHANGES) open.trace.push(traceparent)
      open.changes++
      open.lastAt = now
      open.doc = doc
      return
    }
    const w: Window = {
      id: randomUUID(),
      key: doc.key,
      firstAt: now,
      lastAt: now,
      changes: 1,
      doc,
      version: null,
      timer: setTimeout(() => this.finish(k), this.options.debounceMs),
      written: Promise.resolve(),
      trace: traceparent === '' ? [] : [traceparent],
    }
    w.timer.unref()
    this.windows.set(k, w)
    // Due well after the window ends, so only a crash before the final body is written lets it go out.
    w.written = this.put(w, now + this.options.debounceMs + Math.max(10_000, this.options.debounceMs))
  }

  /** A doc about to be unloaded: its version is read now, while it can be. */
  unloaded(doc: LiveDoc): void {
    const w = this.windows.get(`${doc.key.engine}\u0000${doc.key.docId}`)
    if (w !== undefined && w.doc === doc) w.version = safeVersion(doc)
  }

  /** A doc was deleted: announce it at once, and drop its open window. */
  async deleted(key: DocKey, deletedAt: number): Promise<void> {
    const k = `${key.engine}\u0000${key.docId}`
    const w = this.windows.get(k)
    if (w !== undefined) {
      clearTimeout(w.timer)
      this.windows.delete(k)
      await this.finishWindow(w)
    }
    const event: WebhookEvent = { event: 'doc.deleted', engine: key.engine, docId: key.docId, deletedAt: new Date(deletedAt).toISOString(), node: this.options.nodeId() }
    const traceparent = activeTraceparent()
    await this.write({ id: randomUUID(), body: JSON.stringify(event), dueAt: Date.now(), trace: traceparent === '' ? [] : [traceparent] })
    this.options.onDue()
  }

  /** End every open window now (the node is stopping): their messages are durable and due. */
  async close(): Promise<void> {
    this.closed = true
    const open = [...this.windows.values()]
    this.windows.clear()
    for (const w of open) clearTimeout(w.timer)
    await Promise.allSettled(open.map((w) => this.finishWindow(w)))
  }

  private finish(k: string): void {
    const w = this.windows.get(k)
    if (w === undefined) return
    this.windows.delete(k)
    void this.finishWindow(w).then(
      () => this.options.onDue(),
      () => undefined,
    )
  }

  private async finishWindow(w: Window): Promise<void> {
    if (w.version === null) w.version = safeVersion(w.doc)
    await w.written.catch(() => undefined)
    await this.put(w, Date.now())
  }

  private put(w: Window, dueAt: number): Promise<void> {
    const event: WebhookEvent = {
      event: 'doc.changed',
      engine: w.key.engine,
      docId: w.key.docId,
      version: w.version,
      changes: w.changes,
      firstChangeAt: new Date(w.firstAt).toISOString(),
      lastChangeAt: new Date(w.lastAt).toISOString(),
      node: this.options.nodeId(),
    }
    return this.write({ id: w.id, body: JSON.stringify(event), dueAt, trace: [...w.trace] }).catch((err: unknown) => {
      this.log.error({ err, doc: w.key.docId }, 'could not write a webhook message to the outbox')
      throw err
    })
  }

  /**
   * Queue a message for the outbox; resolves once it is durable. Messages queued in the same turn of the
   * event loop are written in one transaction, off the path of the change that caused them.
   */
  private write(message: OutboxInput): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.batch.length === 0) setImmediate(() => this.flush())
      this.batch.push({ message, resolve, reject })
    })
  }

  private flush(): void {
    const batch = this.batch
    this.batch = []
    if (batch.length === 0) return
    this.outbox.outboxPut(batch.map((b) => b.message)).then(
      () => batch.forEach((b) => b.resolve()),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    )
  }
}

/** A destroyed or failed doc has no version to give; the event then carries null. */
function safeVersion(doc: LiveDoc): string | null {
  try {
    return doc.doc.version()
  } catch {
    return null
  }
}
