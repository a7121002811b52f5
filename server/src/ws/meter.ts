import type { SocketMeter } from './socket.js'

/** Where an endpoint's traffic is counted (the node's metrics). */
export interface TrafficCounters {
  received(bytes: number): void
  sent(bytes: number): void
  error(code: string): void
  closed(): void
}

function flush(meter: BatchedMeter): void {
  meter.flush()
}

/**
 * The meter of one endpoint's sockets. Sockets count every frame, and a metrics counter costs far more
 * than an addition, so bytes are summed and handed on once per turn of the event loop.
 */
export class BatchedMeter implements SocketMeter {
  private receivedBytes = 0
  private sentBytes = 0
  private scheduled = false

  constructor(private readonly counters: TrafficCounters) {}

  received(bytes: number): void {
    this.receivedBytes += bytes
    this.schedule()
  }

  sent(bytes: number): void {
    this.sentBytes += bytes
    this.schedule()
  }

  error(code: string): void {
    this.counters.error(code)
  }

  closed(): void {
    this.counters.closed()
  }

  flush(): void {
    this.scheduled = false
    if (this.receivedBytes > 0) this.counters.received(this.receivedBytes)
    if (this.sentBytes > 0) this.counters.sent(this.sentBytes)
    this.receivedBytes = 0
    this.sentBytes = 0
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(flush, this)
  }
}
