import { EventEmitter } from 'node:events'
import WebSocket, { type RawData } from 'ws'
import { asNodeId, type NodeId } from '@murmur/shared'
import type { Logger } from '../logger.js'
import { decodePeerMessage, encodePeerMessage, PeerMessageType, type PeerMessage } from './peer-protocol.js'
import { peerHeaders } from './peer-auth.js'
import { DEFAULT_PEER_FRAME_BYTES, LinkQueue, Reassembly, type ChunkStats } from './chunks.js'

export interface PeerLinksOptions {
  readonly self: { readonly id: NodeId; readonly url: string }
  readonly secret: string
  /** CA certificates trusted on outgoing wss:// links; null: the system's. */
  readonly ca?: Buffer | null
  readonly log: Logger
  /** Unsent bytes on one link above which droppable messages (pushes) are dropped. */
  readonly maxQueueBytes: number
  readonly maxFrameBytes: number
  /** Largest frame sent on a link: larger messages cross in pieces of at most this (default 1 MiB). */
  readonly peerFrameBytes?: number
  /** Largest message a peer may send in pieces (its pieces together). */
  readonly maxMessageBytes?: number
  readonly pingIntervalMs: number
}

/** Messages that skip a link's queue: membership and acks must not wait behind a long first sync. */
function isUrgent(msg: PeerMessage): boolean {
  return msg.type === PeerMessageType.swim || msg.type === PeerMessageType.docAck
}

/** Error codes of a TLS handshake that failed on the certificate (Node's and OpenSSL's). */
const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL/u

interface DialState {
  /** A refusal was logged since the link was last up: the backoff's retries stay quiet. */
  warned: boolean
  timer: NodeJS.Timeout | null
  attempt: number
  ws: WebSocket | null
}

interface Link {
  readonly ws: WebSocket
  readonly queue: LinkQueue
  readonly assembly: Reassembly
  readonly outbound: boolean
  peer: NodeId | null
  alive: boolean
}

/**
 * The full mesh of authenticated WebSocket links to other nodes. A node dials every member it knows and
 * accepts links from others, so a pair may share two links; sends use whichever is open. Dialled links
 * come back with jittered backoff until the target is forgotten.
 */
export class PeerLinks extends EventEmitter<{ up: [NodeId]; down: [NodeId]; lost: [NodeId]; message: [NodeId, PeerMessage] }> {
  private readonly links = new Map<NodeId, Set<Link>>()
  private readonly urls = new Map<NodeId, string>()
  private readonly dialing = new Map<string, DialState>()
  private readonly pingTimer: NodeJS.Timeout
  private closed = false
  /** Pushes dropped because a link's queue was full (a metric). */
  dropped = 0
  /** Frames and bytes sent, by message type (what replication costs on the wire; pieces count as `chunk`). */
  readonly sent = { frames: [] as number[], bytes: [] as number[], largest: 0 }
  /** The largest frame received on any link. */
  largestReceived = 0
  /** Messages sent in pieces, and the pieces (the metrics of bounded first syncs). */
  readonly chunks: ChunkStats = { chunks: 0, bytes: 0, messages: 0 }

  constructor(private readonly options: PeerLinksOptions) {
    super()
    this.pingTimer = setInterval(() => this.checkLiveness(), options.pingIntervalMs)
    this.pingTimer.unref()
  }

  /** The URL a peer announced in its hello. */
  urlOf(peer: NodeId): string | undefined {
    return this.urls.get(peer)
  }

  isUp(peer: NodeId): boolean {
    return (this.links.get(peer)?.size ?? 0) > 0
  }

  /** Bytes sent to each peer and not yet on the wire (the admin view's replication backlog). */
  queuedBytes(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [peer, set] of this.links) {
      let n = 0
      for (const l of set) n += backlog(l)
      out[peer] = n
    }
    return out
  }

  /** Messages crossing some link in pieces now, sent or being received. */
  get chunkedInProgress(): number {
    let n = 0
    for (const set of this.links.values()) for (const l of set) n += l.queue.inProgress + (l.assembly.inProgress ? 1 : 0)
    return n
  }

  connectedPeers(): NodeId[] {
    return [...this.links.keys()].filter((p) => this.isUp(p))
  }

  /**
   * Send to a peer. Returns false when there is no open link, or when `droppable` and the link's queue
   * is over its bound (the caller then remembers the doc for anti-entropy / handoff).
   */
  send(peer: NodeId, msg: PeerMessage, droppable = false): boolean {
    const set = this.links.get(peer)
    if (set === undefined) return false
    let best: Link | null = null
    for (const l of set) if (l.ws.readyState === WebSocket.OPEN && (best === null || backlog(l) < backlog(best))) best = l
    if (best === null) return false
    if (droppable && backlog(best) > this.options.maxQueueBytes) {
      this.dropped++
      return false
    }
    const frames = best.queue.split(encodePeerMessage(msg))
    const type = frames.length > 1 ? PeerMessageType.chunk : msg.type
    for (const f of frames) {
      this.sent.frames[type] = (this.sent.frames[type] ?? 0) + 1
      this.sent.bytes[type] = (this.sent.bytes[type] ?? 0) + f.length
      if (f.length > this.sent.largest) this.sent.largest = f.length
    }
    best.queue.send(frames, isUrgent(msg))
    return true
  }

  /** Keep a link to `url` (a seed, or a member we learned of), redialling when it drops. */
  dial(url: string): void {
    if (this.closed || url === this.options.self.url || this.dialing.has(url)) return
    this.dialing.set(url, { warned: false, timer: null, attempt: 0, ws: null })
    this.connect(url)
  }

  private connect(url: string): void {
    const state = this.dialing.get(url)
    if (state === undefined || this.closed) return
    const { id, url: selfUrl } = this.options.self
    // A fresh token for every attempt: each is good for one handshake with the node at `url`.
    peerHeaders(this.options.secret, { id, url: selfUrl }, url).then(
      (headers) => {
        if (this.dialing.get(url) === state && !this.closed) this.open(url, state, headers)
      },
      (err: unknown) => this.options.log.error({ err }, 'could not sign a peer link token'),
    )
  }

  private open(url: string, state: DialState, headers: Record<string, string>): void {
    const { id, url: selfUrl } = this.options.self
    const ca = this.options.ca ?? null
    const ws = new WebSocket(`${url.replace(/\/$/u, '')}/peer`, {
      headers,
      maxPayload: this.options.maxFrameBytes,
      perMessageDeflate: false,
      ...(ca === null ? {} : { ca }),
    })
    ws.on('unexpected-response', (_req, res) => {
      this.warnOnce(state, `peer link to ${url} refused with ${res.statusCode ?? 0} (check the cluster secret on both nodes; the refusing node logs why)`)
      ws.terminate()
    })
    ws.on('error', (err: Error & { code?: string }) => {
      if (TLS_ERROR.test(err.code ?? '')) this.warnOnce(state, `peer link to ${url}: TLS failed (${err.code ?? ''}: ${err.message}); give --peer-ca the CA that signed its certificate`)
    })
    state.ws = ws
    const link = this.newLink(ws, true)
    ws.on('open', () => {
      state.attempt = 0
      state.warned = false
      ws.send(encodePeerMessage({ type: PeerMessageType.hello, id, url: selfUrl }))
    })
    this.wire(link, (peer) => {
      if (peer === id) {
        // Our own URL under another name (a seed list naming this node): stop dialling it.
        this.forget(url)
        return false
      }
      return true
    })
    ws.on('close', () => {
      state.ws = null
      if (this.closed || !this.dialing.has(url)) return
      const delay = Math.min(5000, 100 * 2 ** Math.min(state.attempt++, 6)) * (0.5 + Math.random() / 2)
      state.timer = setTimeout(() => {
        state.timer = null
        this.connect(url)
      }, delay)
      state.timer.unref()
    })
  }

  private warnOnce(state: DialState, line: string): void {
    if (state.warned) return
    state.warned = true
    this.options.log.warn(line)
  }

  /** Stop dialling `url` and close its link. */
  forget(url: string): void {
    const state = this.dialing.get(url)
    if (state === undefined) return
    this.dialing.delete(url)
    if (state.timer !== null) clearTimeout(state.timer)
    state.ws?.close(1000, 'forgotten')
  }

  /** An inbound link, already authenticated as `peer` by the upgrade handler. */
  accept(ws: WebSocket, peer: { id: string; url: string }): void {
    if (this.closed) {
      ws.close(1001, 'node shutting down')
      return
    }
    const link = this.newLink(ws, false)
    // The hello must name the node the credentials were signed for.
    this.wire(link, (id) => {
      if (id === peer.id) return true
      ws.close(4403, 'hello does not match the credentials')
      return false
    })
    ws.send(encodePeerMessage({ type: PeerMessageType.hello, id: this.options.self.id, url: this.options.self.url }))
  }

  private newLink(ws: WebSocket, outbound: boolean): Link {
    const frameBytes = this.options.peerFrameBytes ?? DEFAULT_PEER_FRAME_BYTES
    const queue = new LinkQueue(ws, frameBytes, this.chunks)
    const assembly = new Reassembly(this.options.maxMessageBytes ?? this.options.maxFrameBytes)
    return { ws, queue, assembly, outbound, peer: null, alive: true }
  }

  private wire(link: Link, onHello: (peer: NodeId) => boolean): void {
    const { ws } = link
    ws.on('error', (err) => this.options.log.debug({ err }, 'peer link error'))
    ws.on('pong', () => {
      link.alive = true
    })
    ws.on('message', (data: RawData) => {
      link.alive = true
      let msg: PeerMessage
      try {
        const frame = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data
        if (frame.length > this.largestReceived) this.largestReceived = frame.length
        msg = decodePeerMessage(frame)
        if (msg.type === PeerMessageType.chunk) {
          if (link.peer === null) throw new Error('a piece before the hello')
          const whole = link.assembly.add(msg)
          if (whole === null) return
          msg = decodePeerMessage(whole)
          if (msg.type === PeerMessageType.chunk) throw new Error('a piece inside a piece')
        }
      } catch (err) {
        this.options.log.warn({ err }, 'malformed message on a peer link; closing it')
        ws.close(4400, 'malformed peer message')
        return
      }
      if (link.peer === null) {
        if (msg.type !== PeerMessageType.hello) {
          ws.close(4400, 'hello expected')
          return
        }
        const peer = asNodeId(msg.id)
        if (!onHello(peer)) return
        link.peer = peer
        this.urls.set(peer, msg.url)
        let set = this.links.get(peer)
        if (set === undefined) this.links.set(peer, (set = new Set()))
        const wasUp = set.size > 0
        set.add(link)
        if (!wasUp) this.emit('up', peer)
        return
      }
      this.emit('message', link.peer, msg)
    })
    ws.on('close', () => {
      link.queue.clear()
      const peer = link.peer
      if (peer === null) return
      const set = this.links.get(peer)
      if (set === undefined || !set.delete(link)) return
      if (set.size === 0) {
        this.links.delete(peer)
        this.emit('down', peer)
      } else {
        // Another link to the peer remains, but frames on this one may be lost (a half-dead path).
        this.emit('lost', peer)
      }
    })
  }

  private checkLiveness(): void {
    for (const set of this.links.values()) {
      for (const l of set) {
        if (l.ws.readyState !== WebSocket.OPEN) continue
        if (!l.alive && l.ws.bufferedAmount === 0) {
          l.ws.terminate()
          continue
        }
        l.alive = false
        l.ws.ping()
      }
    }
  }

  /** Cut every link now (tests use it to simulate a partition from inside). */
  dropAll(): void {
    for (const set of this.links.values()) for (const l of set) l.ws.terminate()
  }

  close(): void {
    this.closed = true
    clearInterval(this.pingTimer)
    for (const url of [...this.dialing.keys()]) this.forget(url)
    for (const set of this.links.values()) for (const l of set) l.ws.close(1001, 'node shutting down')
  }
}

/** What a link holds that is not on the wire yet: its socket's buffer and its queue. */
function backlog(link: Link): number {
  return link.ws.bufferedAmount + link.queue.bytes
}
