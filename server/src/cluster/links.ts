import { EventEmitter } from 'node:events'
import WebSocket, { type RawData } from 'ws'
import { asNodeId, type NodeId } from '@murmur/shared'
import type { Logger } from '../logger.js'
import { decodePeerMessage, encodePeerMessage, PeerMessageType, type PeerMessage } from './peer-protocol.js'
import { peerHeaders } from './peer-auth.js'
import { DEFAULT_PEER_FRAME_BYTES, LinkQueue, Reassembly, type ChunkStats } from './chunks.js'

export interface PeerLinksOptions {
  /** Who this process is: its node id and URL, its boot (random per process) and its store's id. */
  readonly self: { readonly id: NodeId; readonly url: string; readonly boot: string; readonly store: string }
  /** Whether membership holds `peer` alive: a second process under its id is then refused. */
  readonly isAlive: (peer: NodeId) => boolean
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
  /** The URL dialled (outbound links). */
  readonly url?: string
  peer: NodeId | null
  alive: boolean
  /** The peer process's boot and store ids, from its hello. */
  boot: string
  store: string
  /** This side refused the peer (its close code is not a refusal of us). */
  refusing: boolean
}

/** Closes a link whose node id is already alive in the cluster as another process. */
export const ID_CLASH_CLOSE = 4409

/**
 * The full mesh of authenticated WebSocket links to other nodes. A node dials every member it knows and
 * accepts links from others, so a pair may share two links; sends use whichever is open. Dialled links
 * come back with jittered backoff until the target is forgotten.
 */
export class PeerLinks extends EventEmitter<{
  up: [NodeId]
  down: [NodeId]
  lost: [NodeId]
  message: [NodeId, PeerMessage]
  /** A link we dialled was admitted by the node at `url` (it sent its hello after checking ours). */
  admitted: [NodeId, string]
  /** A node refused this process's id as taken (`who`: its URL or id; `reason`: what it said). */
  refused: [string, string]
}> {
  private readonly links = new Map<NodeId, Set<Link>>()
  private readonly urls = new Map<NodeId, string>()
  private readonly dialing = new Map<string, DialState>()
  private readonly pingTimer: NodeJS.Timeout
  private closed = false
  /** Processes refused, so that one that keeps retrying is logged once. */
  private readonly refusedBoots = new Set<string>()
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
    const { id } = this.options.self
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
    const link = this.newLink(ws, true, url)
    ws.on('open', () => {
      state.attempt = 0
      state.warned = false
      ws.send(encodePeerMessage(this.hello()))
    })
    this.wire(link, (peer, boot) => {
      if (peer === id && boot === this.options.self.boot) {
        // Our own URL under another name (a seed list naming this node): stop dialling it.
        this.forget(url)
        return false
      }
      if (!this.admit(link, peer)) return false
      this.emit('admitted', peer, url)
      return true
    })
    ws.on('close', (code, reason) => {
      if (code === ID_CLASH_CLOSE && !link.refusing) this.emit('refused', url, reason.toString())
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
    // The hello must name the node the credentials were signed for; ours follows once it is admitted.
    this.wire(link, (id) => {
      if (id !== peer.id) {
        ws.close(4403, 'hello does not match the credentials')
        return false
      }
      if (!this.admit(link, id)) return false
      ws.send(encodePeerMessage(this.hello()))
      return true
    })
    ws.on('close', (code, reason) => {
      if (code === ID_CLASH_CLOSE && !link.refusing) this.emit('refused', link.peer ?? peer.id, reason.toString())
    })
  }

  private newLink(ws: WebSocket, outbound: boolean, url?: string): Link {
    const frameBytes = this.options.peerFrameBytes ?? DEFAULT_PEER_FRAME_BYTES
    const queue = new LinkQueue(ws, frameBytes, this.chunks)
    const assembly = new Reassembly(this.options.maxMessageBytes ?? this.options.maxFrameBytes)
    return { ws, queue, assembly, outbound, ...(url === undefined ? {} : { url }), peer: null, alive: true, boot: '', store: '', refusing: false }
  }

  /** Cut the links of a process that another (its restart) replaces: to the others, the node went down and came back. */
  private replace(peer: NodeId, old: Link[]): void {
    const set = this.links.get(peer)
    for (const l of old) {
      set?.delete(l)
      l.ws.terminate()
    }
    if (set !== undefined && set.size === 0) {
      this.links.delete(peer)
      this.emit('down', peer)
    }
  }

  private hello(): PeerMessage {
    const { id, url, boot, store } = this.options.self
    return { type: PeerMessageType.hello, id, url, boot, store }
  }

  /**
   * Whether the process behind `link`, which says it is node `peer`, may have that id. Refused: a second
   * process under this node's own id, and one under the id of a node that is alive with a link open now,
   * unless it shows that node's store (a restart: a data dir is locked by one process at a time). Admitted
   * otherwise, and links of the process it replaces are cut.
   */
  private admit(link: Link, peer: NodeId): boolean {
    const { self } = this.options
    let holder: string | null = null
    if (peer === self.id) {
      if (link.boot !== self.boot) holder = `this node (${self.url})`
    } else {
      const others = [...(this.links.get(peer) ?? [])].filter((l) => l.boot !== link.boot)
      const restart = others.some((l) => l.store !== '' && l.store === link.store)
      const live = others.some((l) => l.alive && l.ws.readyState === WebSocket.OPEN)
      if (!restart && live && this.options.isAlive(peer)) holder = `the node at ${this.urls.get(peer) ?? 'a known URL'}`
      else if (others.length > 0) this.replace(peer, others)
    }
    if (holder === null) return true
    const reason = `node id ${peer} is already alive in the cluster as another process`
    if (!this.refusedBoots.has(link.boot)) {
      this.refusedBoots.add(link.boot)
      this.options.log.error({ peer, holder, from: link.url ?? 'an inbound link' }, `refused a second process claiming node id ${peer}: that id is alive in the cluster as ${holder}`)
    }
    link.refusing = true
    link.ws.close(ID_CLASH_CLOSE, reason)
    return false
  }

  private wire(link: Link, onHello: (peer: NodeId, boot: string) => boolean): void {
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
        link.boot = msg.boot
        link.store = msg.store
        if (!onHello(peer, msg.boot)) return
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
