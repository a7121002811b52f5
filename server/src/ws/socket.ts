import type { Socket } from 'node:net'
import { CloseCode, ErrorCode, MurmurError, closeCodeFor, closeReason } from '@murmur/shared'
import type { Logger } from '../logger.js'
import { TokenBucket } from '../limits/token-bucket.js'
import type { LivenessCheck, LivenessWheel } from './liveness.js'
import { type FrameHandler, FrameRemainder, Opcode, WsClose, closePayload, readFrames, writeFrame } from './websocket.js'

/** Bytes handed to the socket at most before we wait for it to drain. */
const HIGH_WATER = 512 * 1024

/** How long a closing socket may take to finish the closing handshake before it is dropped. */
const CLOSE_GRACE_MS = 5_000

export interface SocketLimits {
  readonly maxBufferedBytes: number
  /** Liveness pings; a socket that does not answer two in a row (and has nothing queued) is dropped. */
  readonly pingIntervalMs: number
  /** A socket that sent nothing for this long gets its protocol's keep-alive (see `SocketHandler`). */
  readonly keepAliveMs: number
  /** The largest message a client may send (its fragments together); past it: 1009. */
  readonly maxFrameBytes: number
  /** Messages per second on average (0 = unlimited), with bursts of `messageBurst`; past it: 4429. */
  readonly maxMessagesPerSecond?: number
  readonly messageBurst?: number
}

/** Where a socket reports its traffic, the errors it closes with, and its end (metrics). */
export interface SocketMeter {
  received(bytes: number): void
  sent(bytes: number): void
  error(code: string): void
  closed(): void
}

/** What the sockets of one endpoint share: one object per endpoint, not one per socket. */
export interface SocketEnv {
  readonly limits: SocketLimits
  readonly log: Logger
  readonly meter: SocketMeter | null
  /** Visits every socket once per keep-alive interval (`LivenessWheel` with `keepAliveMs`). */
  readonly wheel: LivenessWheel<ServerSocket>
}

/** The protocol side of a socket: one connection object per socket, whose methods every socket shares. */
export interface SocketHandler {
  /** A binary frame arrived; what this throws or rejects with closes the socket with the matching code. */
  receive(frame: Uint8Array): void | Promise<void>
  /**
   * Nothing was sent for a keep-alive interval: send the protocol's no-op, for clients that time out.
   * True when the peer answers it (a `/sync` ping): it then stands in for the liveness ping.
   */
  keepAlive?(): boolean
  /** The socket closed (called once). */
  closed(): void
}

/** The TCP socket of a WebSocket connection, which knows its `ServerSocket`: one listener function then serves every socket. */
type OwnedSocket = Socket & { [OWNER]?: ServerSocket }
const OWNER = Symbol('murmur.socket')

// Listeners get the TCP socket as `this`.
function onData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER]?.read(chunk)
}

function onClose(this: OwnedSocket): void {
  this[OWNER]?.ended()
}

function onError(this: OwnedSocket, err: Error): void {
  this[OWNER]?.env.log.debug({ err }, 'websocket transport error')
}

function terminate(socket: ServerSocket): void {
  socket.terminate()
}

/** A ping with no payload: the liveness probe every idle socket gets once a round. */
const PING_FRAME = Buffer.from([0x80 | Opcode.ping, 0])

function resumePump(socket: ServerSocket): void {
  socket.pumpLater()
}

/** Sockets corked in this tick; `uncorkAll` sends what each gathered, one write per socket. */
const corked: ServerSocket[] = []

function uncorkAll(): void {
  // A socket corked while this runs is appended and handled by the same loop.
  for (let i = 0; i < corked.length; i++) corked[i].uncork()
  corked.length = 0
}

/**
 * A server-side WebSocket with the behaviour every endpoint shares: bounded send buffer, liveness
 * pings that never kill a socket busy receiving a large transfer, and decoding inside try/catch so that
 * untrusted input closes that socket with a code instead of crashing the process.
 *
 * It speaks RFC 6455 itself on the upgraded TCP socket (`websocket.ts`), so a connection is this object
 * and its TCP socket, nothing more. An idle socket costs little: no timer of its own (the endpoint's
 * `LivenessWheel` visits it), no reader state while no frame is half-read, no send queue until a frame
 * has to wait, no rate bucket when messages are unlimited.
 */
export class ServerSocket implements LivenessCheck, FrameHandler {
  livenessSlot = -1
  /** Set once a close began (ours or the peer's) or the TCP socket went away: nothing more is read or sent. */
  private closed = false
  /** What is left of the input between reads (a half-read frame, an unfinished message); null when nothing. */
  private remainder: FrameRemainder | null = null
  /** `tcp.bytesRead` at the last ping (-1: none yet). Any byte since, a pong included, proves the peer alive. */
  private bytesReadAtPing = -1
  private pingedAt: number
  lastSendAt: number
  /** Frames waiting for the socket to drain below `HIGH_WATER`; null while none wait. */
  private queue: Uint8Array[] | null = null
  private queueBytes = 0
  private pumpTimer: NodeJS.Timeout | null = null
  private readonly messages: TokenBucket | null
  private handler: SocketHandler | null = null
  /** Frames sent in this tick wait in the corked TCP socket until the tick ends. */
  private corked = false

  /**
   * Take over `tcp` after `acceptUpgrade` answered 101; `head` holds the bytes that came with the
   * upgrade request (frames a client sent without waiting).
   */
  constructor(
    private readonly tcp: Socket,
    readonly env: SocketEnv,
    head?: Buffer,
  ) {
    const now = Date.now()
    this.lastSendAt = now
    this.pingedAt = now
    const rate = env.limits.maxMessagesPerSecond ?? 0
    this.messages = rate > 0 ? new TokenBucket(rate, env.limits.messageBurst ?? 1) : null
    tcp.setNoDelay(true)
    // HTTP servers let sockets half-close; a WebSocket peer that ends its side gets ours ended too.
    tcp.allowHalfOpen = false
    ;(tcp as OwnedSocket)[OWNER] = this
    // Back into the stream, so that they are read after `serve` gave the socket its handler.
    if (head !== undefined && head.length > 0) tcp.unshift(head)
    tcp.on('data', onData)
    tcp.on('close', onClose)
    tcp.on('error', onError)
    env.wheel.add(this)
  }

  /** Hand frames to `handler` from now on. */
  serve(handler: SocketHandler): void {
    this.handler = handler
  }

  get isOpen(): boolean {
    return !this.closed
  }

  /** While true, the reader goes on to the next frame (`FrameHandler`). */
  get reading(): boolean {
    return !this.closed
  }

  /** Bytes waiting in our own queue (not yet handed to the socket). */
  get queuedBytes(): number {
    return this.queueBytes
  }

  /** Bytes handed to the TCP socket that it has not yet written. */
  private get buffered(): number {
    return this.tcp.writableLength
  }

  /**
   * Queue a frame. Frames go out in order, handed to the socket only while its buffer is below
   * `HIGH_WATER`, so that an urgent frame (`sendNow`) waits behind at most that much. A single frame is
   * always accepted; a queue that keeps growing past `maxBufferedBytes` means the peer does not read,
   * and the socket is closed rather than letting server memory grow.
   */
  send(frame: Uint8Array): void {
    if (this.closed) return
    const buffered = this.buffered
    const backlog = this.queueBytes + buffered
    if (backlog > 0 && backlog + frame.length > this.env.limits.maxBufferedBytes) {
      this.closeWith(new MurmurError(ErrorCode.SLOW_CONSUMER, 'send buffer limit reached; the client does not read fast enough'))
      return
    }
    if (this.queueBytes === 0 && buffered < HIGH_WATER) {
      this.write(frame)
      return
    }
    ;(this.queue ??= []).push(frame)
    this.queueBytes += frame.length
    this.pump()
  }

  /** Send ahead of the queue (pings, pongs, keep-alives). */
  sendNow(frame: Uint8Array): void {
    if (!this.closed) this.write(frame)
  }

  /**
   * Write a binary frame. The first frame of a tick corks the TCP socket and the end of the tick uncorks
   * it, so that all the frames a socket gets in one tick (a burst of updates, acks) leave in one write
   * instead of one system call each.
   */
  private write(frame: Uint8Array): void {
    if (!this.corked) {
      this.corked = true
      this.tcp.cork()
      if (corked.push(this) === 1) process.nextTick(uncorkAll)
      this.lastSendAt = Date.now()
    }
    this.env.meter?.sent(frame.length)
    writeFrame(this.tcp, Opcode.binary, frame, true)
  }

  /** @internal Send what was gathered in this tick (the end of the tick, or the pump taking over). */
  uncork(): void {
    if (!this.corked) return
    this.corked = false
    this.tcp.uncork()
  }

  private pump(): void {
    const queue = this.queue
    if (queue === null) return
    // A backlog goes out as the socket drains, in large frames: written at once, not gathered.
    this.uncork()
    while (queue.length > 0 && !this.closed && this.buffered < HIGH_WATER) {
      const frame = queue.shift() as Uint8Array
      this.queueBytes -= frame.length
      this.lastSendAt = Date.now()
      this.env.meter?.sent(frame.length)
      writeFrame(this.tcp, Opcode.binary, frame, false)
    }
    if (queue.length === 0 || this.closed) {
      this.queue = null
      this.queueBytes = 0
      return
    }
    this.pumpTimer ??= setTimeout(resumePump, 5, this)
  }

  /** @internal The pump's timer fired. */
  pumpLater(): void {
    this.pumpTimer = null
    this.pump()
  }

  /** @internal Bytes arrived on the TCP socket. */
  read(chunk: Buffer): void {
    if (this.closed) return
    this.remainder = readFrames(this.remainder, chunk, this.env.limits.maxFrameBytes, this)
  }

  /** @internal A whole message arrived (`FrameHandler`). */
  message(frame: Buffer, binary: boolean): void {
    const handler = this.handler
    if (this.closed || handler === null) return
    if (!binary) {
      this.closeWith(new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'text frames are not part of the protocol'))
      return
    }
    this.env.meter?.received(frame.length)
    if (this.messages !== null && !this.messages.take()) {
      this.closeWith(new MurmurError(ErrorCode.RATE_LIMITED, 'too many messages; slow down (--max-messages-per-second)'))
      return
    }
    try {
      const result = handler.receive(frame)
      if (result instanceof Promise) result.catch((err: unknown) => this.closeWith(err))
    } catch (err) {
      this.closeWith(err)
    }
  }

  /**
   * @internal The peer pinged (`FrameHandler`): answer with its payload. Not while our output is backed up:
   * RFC 6455 lets a pong answer only the latest ping, and a peer that pings without reading must not grow
   * our buffer.
   */
  ping(payload: Buffer): void {
    if (this.closed || this.buffered >= HIGH_WATER) return
    writeFrame(this.tcp, Opcode.pong, payload, false)
  }

  /** @internal The peer's close frame (`FrameHandler`): answer it with the same code and end the connection. */
  closeFrame(code: number): void {
    this.close(code)
  }

  /** @internal The peer broke RFC 6455 (`FrameHandler`). */
  violation(code: number, reason: string): void {
    this.env.log.debug({ code, reason }, 'closing socket after a websocket protocol violation')
    if (code === WsClose.tooBig) this.env.meter?.error(ErrorCode.FRAME_TOO_LARGE)
    this.close(code, reason)
  }

  /** @internal The TCP socket closed. */
  ended(): void {
    const tcp = this.tcp as OwnedSocket
    if (tcp[OWNER] !== this) return
    tcp[OWNER] = undefined
    this.closed = true
    this.remainder = null
    this.env.wheel.delete(this)
    if (this.pumpTimer !== null) clearTimeout(this.pumpTimer)
    this.pumpTimer = null
    this.queue = null
    this.queueBytes = 0
    this.env.meter?.closed()
    this.handler?.closed()
  }

  /** Close with the code that belongs to the error; unknown errors are internal and logged. */
  closeWith(err: unknown): void {
    const error =
      err instanceof MurmurError ? err : new MurmurError(ErrorCode.INTERNAL, 'internal error', { cause: err })
    if (error.code === ErrorCode.INTERNAL) this.env.log.error({ err }, 'closing socket after internal error')
    else this.env.log.debug({ code: error.code, reason: error.message }, 'closing socket')
    if (!this.closed) this.env.meter?.error(error.code)
    this.close(closeCodeFor[error.code], closeReason(error.code, error.message))
  }

  /**
   * Send a close frame and end the connection. Frames already handed to the socket go out first; what
   * still waits in our queue is dropped. A peer that never finishes closing is cut off after a grace period.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.closed) return
    this.closed = true
    this.remainder = null
    this.queue = null
    this.queueBytes = 0
    this.uncork()
    const tcp = this.tcp
    if (!tcp.destroyed) {
      writeFrame(tcp, Opcode.close, closePayload(code, reason), false)
      tcp.end()
    }
    // A peer that never completes the closing handshake must not hold the socket forever.
    setTimeout(terminate, CLOSE_GRACE_MS, this).unref()
  }

  /** Drop the connection without a closing handshake. */
  terminate(): void {
    this.closed = true
    this.tcp.destroy()
  }

  /**
   * @internal The wheel's visit, once per keep-alive interval. Every `pingIntervalMs` a liveness step: a
   * socket that sent nothing at all since the last step is dropped, unless frames of ours are still on
   * their way to it (its pong then waits behind them). Then the protocol's keep-alive when nothing was
   * sent for a while, and a ping unless that keep-alive asks for an answer itself (an idle socket gets
   * one frame a round, not two). The judgement comes first, so that a keep-alive just written is not
   * mistaken for a backlog.
   */
  visit(now: number): void {
    if (this.closed) return
    const limits = this.env.limits
    const pingDue = now - this.pingedAt >= limits.pingIntervalMs * 0.9
    if (pingDue) {
      this.pingedAt = now
      const read = this.tcp.bytesRead
      const heard = read !== this.bytesReadAtPing
      this.bytesReadAtPing = read
      if (!heard && this.queueBytes === 0 && this.buffered === 0) {
        this.env.log.debug('terminating a socket that stopped answering pings')
        this.terminate()
        return
      }
    }
    const answered = now - this.lastSendAt >= limits.keepAliveMs * 0.9 && this.handler?.keepAlive?.() === true
    if (pingDue && !answered) this.tcp.write(PING_FRAME)
  }
}
