import type { Logger } from '../logger.js'
import type { DocId, EngineName } from '@murmur/shared'
import type { DocKey, Outbox, OutboxMessage } from '../storage/storage.js'
import { tracedAfter, tracingOn } from '../tracing/tracing.js'
import { WebhookHeader, signWebhook } from './signature.js'

export interface DelivererOptions {
  readonly url: string
  readonly secret: string
  /** First retry delay; each retry doubles it (with jitter) up to `retryMaxMs`. */
  readonly retryMs: number
  readonly retryMaxMs: number
  /** One POST may take this long before it counts as failed. */
  readonly timeoutMs: number
  /** Look at the outbox at least this often (messages written by an earlier run, retries). */
  readonly pollMs: number
  /** POSTs in flight at once. */
  readonly concurrency: number
  readonly onResult?: (result: 'delivered' | 'failed') => void
}

/** Delay before attempt `attempts + 1`: exponential, capped, with full jitter in its upper half. */
export function retryDelay(attempts: number, retryMs: number, retryMaxMs: number, random = Math.random): number {
  const ceiling = Math.min(retryMaxMs, retryMs * 2 ** Math.min(attempts - 1, 30))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/**
 * Sends the outbox's due messages as signed POSTs, at least once each: a message leaves the outbox only
 * after a 2xx answer; anything else (refused connection, timeout, non-2xx) schedules a retry.
 */
export class WebhookDeliverer {
  private readonly inFlight = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private running = false
  private again = false
  private stopped = false
  private readonly controllers = new Set<AbortController>()
  /** The earliest retry scheduled since the last pass began; the next pass starts no later. */
  private nextRetryAt = Infinity

  constructor(
    private readonly outbox: Outbox,
    private readonly options: DelivererOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.kick()
  }

  /** Look for due messages now. */
  kick(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.running = true
    void this.pass().finally(() => {
      this.running = false
      if (this.stopped) return
      if (this.again) {
        this.again = false
        this.kick()
        return
      }
      const wait = Math.max(0, Math.min(this.options.pollMs, this.nextRetryAt - Date.now()))
      this.timer = setTimeout(() => {
        this.timer = null
        this.kick()
      }, wait)
      this.timer.unref()
    })
  }

  /** Stop sending; messages not yet delivered stay in the outbox for the next start. */
  async close(): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    for (const c of this.controllers) c.abort()
  }

  private async pass(): Promise<void> {
    this.nextRetryAt = Infinity
    let due: OutboxMessage[]
    try {
      due = await this.outbox.outboxDue(Date.now(), this.options.concurrency * 4)
    } catch (err) {
      if (!this.stopped) this.log.warn({ err }, 'webhook outbox could not be read')
      return
    }
    const todo = due.filter((m) => !this.inFlight.has(m.id))
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < todo.length && !this.stopped) await this.deliver(todo[next++])
    }
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, todo.length) }, worker))
    // A full page means more may be due right away.
    if (due.length === this.options.concurrency * 4) this.again = true
  }

  private deliver(message: OutboxMessage): Promise<void> {
    if (!tracingOn()) return this.deliverNow(message)
    // Part of the trace of the update that opened the event's window, linked to the others it stands for.
    const attributes = { 'murmur.webhook.id': message.id, 'murmur.webhook.attempt': message.attempts + 1 }
    return tracedAfter('murmur.webhook.deliver', eventDoc(message), attributes, message.trace, () => this.deliverNow(message))
  }

  private async deliverNow(message: OutboxMessage): Promise<void> {
    this.inFlight.add(message.id)
    const attempt = message.attempts + 1
    let error: string | null = null
    const controller = new AbortController()
    this.controllers.add(controller)
    const timeout = setTimeout(() => controller.abort(), this.options.timeoutMs)
    try {
      const timestamp = Math.floor(Date.now() / 1000)
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'murmur-webhooks/1',
          [WebhookHeader.idempotencyKey]: message.id,
          [WebhookHeader.timestamp]: String(timestamp),
          [WebhookHeader.signature]: signWebhook(this.options.secret, timestamp, message.body),
          [WebhookHeader.attempt]: String(attempt),
        },
        body: message.body,
        signal: controller.signal,
        redirect: 'error',
      })
      // The body is not needed; reading it frees the connection for reuse.
      await response.arrayBuffer().catch(() => undefined)
      if (!response.ok) error = `HTTP ${response.status}`
    } catch (err) {
      error = controller.signal.aborted ? 'timed out' : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message
    } finally {
      clearTimeout(timeout)
      this.controllers.delete(controller)
    }
    try {
      if (error === null) {
        await this.outbox.outboxDone(message.id)
        this.options.onResult?.('delivered')
      } else {
        if (this.stopped) return
        this.options.onResult?.('failed')
        const delay = retryDelay(attempt, this.options.retryMs, this.options.retryMaxMs)
        this.log.debug({ id: message.id, attempt, error, retryInMs: delay }, 'webhook delivery failed; will retry')
        await this.outbox.outboxRetry(message.id, Date.now() + delay, error)
        this.nextRetryAt = Math.min(this.nextRetryAt, Date.now() + delay)
      }
    } catch (err) {
      // The outbox could not record the result; the message stays due and is sent again: at least once.
      if (!this.stopped) this.log.warn({ err, id: message.id }, 'webhook outbox could not record a delivery result')
    } finally {
      this.inFlight.delete(message.id)
    }
  }
}

/** The doc a queued event is about (read from its body; only when tracing). */
function eventDoc(message: OutboxMessage): DocKey {
  try {
    const event = JSON.parse(message.body) as { engine?: unknown; docId?: unknown }
    if (typeof event.engine === 'string' && typeof event.docId === 'string') return { engine: event.engine as EngineName, docId: event.docId as DocId }
  } catch {
    // An unreadable body is still delivered; the span just names no doc.
  }
  return { engine: '' as EngineName, docId: '' as DocId }
}
