import type { WebSocket, RawData } from 'ws'
import { CloseCode, ErrorCode, MurmurError, closeCodeFor, closeReason } from '@murmur/shared'
import type { Logger } from '../logger.js'
import { TokenBucket } from '../limits/token-bucket.js'

/** Bytes handed to the socket at most before we wait for it to drain. */
const HIGH_WATER = 512 * 1024

export interface SocketLimits {
  readonly maxBufferedBytes: number
  /** Liveness pings; a socket that does not answer two in a row (and has nothing queued) is dropped. */
  readonly pingIntervalMs: number
  /** Messages per second on average (0 = unlimited), with bursts of `messageBurst`; past it: 4429. */
  readonly maxMessagesPerSecond?: number
  readonly messageBurst?: number
}

/** Where a socket reports its traffic and the errors it closes with (metrics). */
export interface SocketMeter {
  received(bytes: number): void
  sent(bytes: number): void
  error(code: string): void
}

/**
 * A server-side WebSocket with the behaviour every endpoint shares: bounded send buffer, liveness
 * pings that never kill a socket busy receiving a large transfer, and decoding inside try/catch so that
 * untrusted input closes that socket with a code instead of crashing the process.
 */
export class ServerSocket {
  private alive = true
  private closed = false
  private lastBytesRead = 0
  private readonly queue: Uint8Array[] = []
  private queueBytes = 0
  private pumpTimer: NodeJS.Timeout | null = null
  private readonly pingTimer: NodeJS.Timeout
  private readonly messages: TokenBucket
  lastSendAt = Date.now()
  readonly openedAt = Date.now()

  constructor(
    readonly ws: WebSocket,
    /** The TCP socket under `ws`: bytes still arriving prove the peer alive while its pong waits behind them. */
    private readonly tcp: { readonly bytesRead: number },
    private readonly limits: SocketLimits,
    private readonly log: Logger,
    private readonly meter: SocketMeter | null = null,
  ) {
    this.messages = new TokenBucket(limits.maxMessagesPerSecond ?? 0, limits.messageBurst ?? 1)
    ws.on('pong', () => {
      this.alive = true
    })
    this.pingTimer = setInterval(() => this.checkAlive(), limits.pingIntervalMs)
    this.pingTimer.unref()
    ws.on('close', () => {
      this.closed = true
      clearInterval(this.pingTimer)
      if (this.pumpTimer !== null) clearTimeout(this.pumpTimer)
      this.queue.length = 0
      this.queueBytes = 0
    })
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN
  }

  /** Bytes waiting in our own queue (not yet handed to the socket). */
  get queuedBytes(): number {
    return this.queueBytes
  }

  /**
   * Queue a frame. Frames go out in order, handed to the socket only while its buffer is below
   * `HIGH_WATER`, so that an urgent frame (`sendNow`) waits behind at most that much. A single frame is
   * always accepted; a queue that keeps growing past `maxBufferedBytes` means the peer does not read,
   * and the socket is closed rather than letting server memory grow.
   */
  send(frame: Uint8Array): void {
    if (!this.isOpen) return
    const backlog = this.queueBytes + this.ws.bufferedAmount
    if (backlog > 0 && backlog + frame.length > this.limits.maxBufferedBytes) {
      this.closeWith(new MurmurError(ErrorCode.SLOW_CONSUMER, 'send buffer limit reached; the client does not read fast enough'))
      return
    }
    this.queue.push(frame)
    this.queueBytes += frame.length
    this.pump()
  }

  /** Send ahead of the queue (pings, pongs, keep-alives). */
  sendNow(frame: Uint8Array): void {
    if (!this.isOpen) return
    this.lastSendAt = Date.now()
    this.meter?.sent(frame.length)
    this.ws.send(frame, { binary: true })
  }

  private pump(): void {
    while (this.queue.length > 0 && this.isOpen && this.ws.bufferedAmount < HIGH_WATER) {
      const frame = this.queue.shift() as Uint8Array
      this.queueBytes -= frame.length
      this.lastSendAt = Date.now()
      this.meter?.sent(frame.length)
      this.ws.send(frame, { binary: true })
    }
    if (this.queue.length > 0 && this.isOpen && this.pumpTimer === null) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null
        this.pump()
      }, 5)
    }
    if (!this.isOpen) {
      this.queue.length = 0
      this.queueBytes = 0
    }
  }

  /** Register the frame handler; errors it throws close this socket with the matching code. */
  onFrame(handler: (frame: Uint8Array) => void | Promise<void>): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.closed) return
      let frame: Uint8Array
      if (!isBinary) {
        this.closeWith(new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'text frames are not part of the protocol'))
        return
      }
      if (Array.isArray(data)) frame = Buffer.concat(data)
      else if (data instanceof ArrayBuffer) frame = new Uint8Array(data)
      else frame = data
      this.meter?.received(frame.length)
      if (!this.messages.take()) {
        this.closeWith(new MurmurError(ErrorCode.RATE_LIMITED, 'too many messages; slow down (--max-messages-per-second)'))
        return
      }
      try {
        const result = handler(frame)
        if (result instanceof Promise) result.catch((err: unknown) => this.closeWith(err))
      } catch (err) {
        this.closeWith(err)
      }
    })
  }

  /** Close with the code that belongs to the error; unknown errors are internal and logged. */
  closeWith(err: unknown): void {
    const error =
      err instanceof MurmurError ? err : new MurmurError(ErrorCode.INTERNAL, 'internal error', { cause: err })
    if (error.code === ErrorCode.INTERNAL) this.log.error({ err }, 'closing socket after internal error')
    else this.log.debug({ code: error.code, msg: error.message }, 'closing socket')
    if (!this.closed) this.meter?.error(error.code)
    this.close(closeCodeFor[error.code], closeReason(error.code, error.message))
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.pingTimer)
    try {
      this.ws.close(code, reason)
    } catch {
      this.ws.terminate()
    }
    // A peer that never completes the closing handshake must not hold the socket forever.
    const timer = setTimeout(() => this.ws.terminate(), 5_000)
    timer.unref()
  }

  private checkAlive(): void {
    if (!this.isOpen) return
    if (this.tcp.bytesRead !== this.lastBytesRead) {
      this.lastBytesRead = this.tcp.bytesRead
      this.alive = true
    }
    // Frames we are still pushing out delay the pong; only a socket with nothing queued can be judged.
    if (!this.alive && this.ws.bufferedAmount === 0) {
      this.log.debug('terminating a socket that stopped answering pings')
      this.ws.terminate()
      return
    }
    this.alive = false
    this.ws.ping()
  }
}
