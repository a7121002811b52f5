import { encodePeerMessage, PeerMessageType, type PeerMessage } from './peer-protocol.js'

/** Largest frame a peer link sends by default (`--peer-frame-bytes`): larger messages cross in pieces. */
export const DEFAULT_PEER_FRAME_BYTES = 1024 * 1024

/** Bytes of a piece's frame besides its payload (type, id, last, payload length), at most. */
const CHUNK_HEADER_BYTES = 16

type ChunkMessage = Extract<PeerMessage, { type: typeof PeerMessageType.chunk }>

/**
 * The frames that carry `frame` when it is larger than `maxFrameBytes`: pieces of it, each a `chunk`
 * message whose own frame is at most `maxFrameBytes`. A frame that fits is returned as it is.
 */
export function splitFrame(frame: Uint8Array, id: number, maxFrameBytes: number): Uint8Array[] {
  if (frame.length <= maxFrameBytes) return [frame]
  const step = Math.max(1, maxFrameBytes - CHUNK_HEADER_BYTES)
  const out: Uint8Array[] = []
  for (let at = 0; at < frame.length; at += step) {
    const bytes = frame.subarray(at, Math.min(frame.length, at + step))
    out.push(encodePeerMessage({ type: PeerMessageType.chunk, id, last: at + step >= frame.length, bytes }))
  }
  return out
}

/**
 * Puts the pieces of one message back together on the receiving end of a link. Pieces of a message
 * follow each other (a link sends one chunked message at a time), so one message is assembled at a time,
 * and it may not grow past `maxBytes`.
 */
export class Reassembly {
  private id = -1
  private parts: Uint8Array[] = []
  private bytes = 0

  constructor(private readonly maxBytes: number) {}

  /** A message is being assembled now. */
  get inProgress(): boolean {
    return this.id >= 0
  }

  /** Take a piece; returns the whole frame once its last piece came. Throws on pieces out of order or too many bytes. */
  add(chunk: ChunkMessage): Uint8Array | null {
    if (this.id >= 0 && chunk.id !== this.id) throw new Error(`piece of message ${chunk.id} while message ${this.id} is incomplete`)
    this.id = chunk.id
    this.bytes += chunk.bytes.length
    if (this.bytes > this.maxBytes) throw new Error(`chunked message larger than ${this.maxBytes} bytes`)
    this.parts.push(chunk.bytes)
    if (!chunk.last) return null
    const frame = new Uint8Array(this.bytes)
    let at = 0
    for (const p of this.parts) {
      frame.set(p, at)
      at += p.length
    }
    this.id = -1
    this.parts = []
    this.bytes = 0
    return frame
  }
}

/** What chunked sending has cost so far, for the metrics. */
export interface ChunkStats {
  /** Pieces sent. */
  chunks: number
  /** Their frame bytes. */
  bytes: number
  /** Messages sent in pieces. */
  messages: number
}

interface Queued {
  readonly frame: Uint8Array
  /** The last piece of a chunked message: sending it finishes that message. */
  readonly ends: boolean
}

/** The smallest surface of a link's socket the queue needs (`ws`'s WebSocket). */
export interface FrameSocket {
  readonly bufferedAmount: number
  readonly readyState: number
  send(frame: Uint8Array, done: (err?: Error) => void): void
}

const OPEN = 1

/**
 * The frames of one link waiting for its socket: pieces of chunked messages go out one at a time as the
 * socket drains, so a first sync of a long history holds no more than a frame or two in the socket's
 * buffer, and messages that must not wait (membership, acks) pass it. Other messages keep their order
 * behind it.
 */
export class LinkQueue {
  private readonly frames: Queued[] = []
  private queuedBytes = 0
  private chunked = 0
  private nextId = 0

  constructor(
    private readonly socket: FrameSocket,
    private readonly maxFrameBytes: number,
    private readonly stats: ChunkStats,
  ) {}

  /** Bytes waiting here (not yet handed to the socket). */
  get bytes(): number {
    return this.queuedBytes
  }

  /** Chunked messages not yet fully handed to the socket. */
  get inProgress(): number {
    return this.chunked
  }

  /** The frames `frame` goes out as: itself, or its pieces. */
  split(frame: Uint8Array): Uint8Array[] {
    return splitFrame(frame, frame.length > this.maxFrameBytes ? this.nextId++ : 0, this.maxFrameBytes)
  }

  /** Send `frames` (one message, as `split` made them); `urgent` ones skip the queue. */
  send(frames: Uint8Array[], urgent: boolean): void {
    if (frames.length === 1 && (urgent || this.frames.length === 0)) {
      this.socket.send(frames[0], noop)
      return
    }
    if (frames.length > 1) {
      this.chunked++
      this.stats.messages++
    }
    frames.forEach((frame, i) => {
      this.frames.push({ frame, ends: frames.length > 1 && i === frames.length - 1 })
      this.queuedBytes += frame.length
    })
    this.pump()
  }

  private readonly pump = (): void => {
    while (this.frames.length > 0 && this.socket.readyState === OPEN && this.socket.bufferedAmount < this.maxFrameBytes) {
      const next = this.frames.shift() as Queued
      this.queuedBytes -= next.frame.length
      if (next.frame[0] === PeerMessageType.chunk) {
        this.stats.chunks++
        this.stats.bytes += next.frame.length
      }
      if (next.ends) this.chunked--
      this.socket.send(next.frame, this.pump)
    }
  }

  /** The link closed: what waits here is lost, as frames in flight are. */
  clear(): void {
    this.frames.length = 0
    this.queuedBytes = 0
    this.chunked = 0
  }
}

function noop(): void {}
