import {
  ChunkAssembler,
  CloseCode,
  MessageType,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  decodeMessage,
  encodeMessage,
  type Message,
} from '@murmur/shared/core'
import { ConnectionState, type ConnectionDetail, type ConnectionEvents, type ConnectionOptions, type WebSocketLike } from './connection-types.js'
import { NodeChoice, RetryReason } from './node-choice.js'

export { RESTART_WINDOW_MS } from './node-choice.js'
export {
  ConnectionState,
  type ConnectionDetail,
  type ConnectionEvents,
  type ConnectionOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './connection-types.js'

/** Node (or a runtime that passes for it), where `ws` and its 'nodebuffer' binary type may be in use. */
const RUNS_ON_NODE = typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string'

/**
 * One socket to a Murmur node, kept open: reconnects with jittered exponential backoff, moving to another
 * node of the cluster when its node is unreachable (see `NodeChoice`), pings when idle, and never
 * declares a socket dead while a large transfer is still going out or coming in.
 */
export class Connection {
  private ws: WebSocketLike | null = null
  private _state: ConnectionState = ConnectionState.connecting
  private wantOnline = true
  private readonly nodes: NodeChoice
  /** Whether the current socket was welcomed: a drop after a welcome is not the node's failure to answer. */
  private welcomed = false
  private connectTimer: ReturnType<typeof setTimeout> | null = null
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private livenessTimer: ReturnType<typeof setInterval> | null = null
  private lastReceivedAt = 0
  private pingNonce = 0
  private assembler: ChunkAssembler
  /** The token sent in the last hello (or auth); a 4401 means the server refused it. */
  private sentToken: string | null = null
  /** A token already fetched for the next hello. */
  private nextToken: string | null = null
  /** Set by `setToken`: used instead of `getToken` from then on. */
  private fixedToken: string | null = null
  private readonly listeners: { [K in keyof ConnectionEvents]: Set<ConnectionEvents[K]> } = {
    state: new Set(),
    message: new Set(),
  }
  /** Why the server last closed us, if it did. */
  lastClose: { code: number; reason: string } | null = null
  nodeId: string | null = null

  constructor(private readonly options: ConnectionOptions) {
    this.assembler = new ChunkAssembler(options.maxMessageBytes ?? 512 * 1024 * 1024)
    const urls = [...(options.url === undefined ? [] : [options.url]), ...(options.urls ?? [])]
    this.nodes = new NodeChoice(urls, { initialMs: options.backoffInitialMs, maxMs: options.backoffMaxMs, random: options.random, start: options.url })
  }

  get state(): ConnectionState {
    return this._state
  }

  /** The node connected to, or the one the next attempt goes to. */
  get url(): string {
    return this.nodes.url
  }

  /** Choose from these nodes from now on; the one connected to stays until it fails (see `NodeChoice.setUrls`). */
  setUrls(urls: readonly string[]): void {
    this.nodes.setUrls(urls)
  }

  on<K extends keyof ConnectionEvents>(event: K, listener: ConnectionEvents[K]): () => void {
    this.listeners[event].add(listener)
    return () => this.listeners[event].delete(listener)
  }

  start(): void {
    if (this.wantOnline) this.connect()
    else this.setState(ConnectionState.offline)
  }

  /** Send if welcomed; returns false (and sends nothing) otherwise. */
  send(msg: Message): boolean {
    if (this._state !== ConnectionState.open || this.ws === null) return false
    this.ws.send(encodeMessage(msg))
    return true
  }

  /** Go offline (close the socket, stop retrying) or back online (connect now). */
  setOnline(online: boolean): void {
    if (this._state === ConnectionState.closed || online === this.wantOnline) return
    this.wantOnline = online
    if (online) {
      this.nodes.restartAttempts()
      this.connect()
    } else {
      this.clearTimers()
      this.dropSocket(1000, 'offline')
      this.setState(ConnectionState.offline)
    }
  }

  /** The token to use now: the one given to `setToken`, else `getToken`'s. */
  async currentToken(): Promise<string> {
    if (this.fixedToken !== null) return this.fixedToken
    try {
      return await this.options.getToken()
    } catch (err) {
      this.options.log.warn('murmur: getToken failed', err)
      return ''
    }
  }

  /**
   * Use `token` from now on. On a live connection it is sent at once (an `auth` message, no reconnect);
   * after a refusal (state `unauthorized`) the connection is tried again with it.
   */
  setToken(token: string): void {
    this.fixedToken = token
    if (this._state === ConnectionState.open) this.sendAuth(token)
    else if (this._state === ConnectionState.unauthorized) this.reconnectNow()
  }

  /**
   * Ask for a fresh token (`getToken`, or the one given to `setToken`) and hand it to the server on the
   * live connection, without reconnecting. When not connected, the next connect uses it.
   */
  async refreshToken(): Promise<void> {
    const token = await this.currentToken()
    if (this._state === ConnectionState.open) this.sendAuth(token)
    else if (this._state === ConnectionState.unauthorized && token !== this.sentToken) {
      this.nextToken = token
      this.reconnectNow()
    }
  }

  private sendAuth(token: string): void {
    if (this.ws === null) return
    this.sentToken = token
    this.ws.send(encodeMessage({ type: MessageType.auth, token }))
  }

  /**
   * The server refused our token (4401). Ask for a token once more: a different one is tried right away
   * (with backoff); the same one (or none) would only be refused again, so retries stop until a new
   * token is given.
   */
  private async onUnauthorized(detail: { code: number; reason: string }): Promise<void> {
    const rejected = this.sentToken
    const token = await this.currentToken()
    if (this._state === ConnectionState.closed || !this.wantOnline || this.ws !== null) return
    if (token !== '' && token !== rejected) {
      this.nextToken = token
      this.setState(ConnectionState.connecting, detail)
      this.scheduleRetry(RetryReason.again)
      return
    }
    this.clearTimers()
    this.setState(ConnectionState.unauthorized, detail)
  }

  /** Reconnect now (after a token refresh, or a close code that stopped retries). */
  reconnectNow(): void {
    if (this._state === ConnectionState.closed || !this.wantOnline) return
    this.nodes.restartAttempts()
    this.clearTimers()
    this.dropSocket(1000, 'reconnect')
    this.connect()
  }

  close(): void {
    this.clearTimers()
    this.dropSocket(1000, 'client closed')
    this.setState(ConnectionState.closed)
  }

  private connect(): void {
    if (this._state === ConnectionState.closed) return
    this.clearTimers()
    this.setState(ConnectionState.connecting)
    let ws: WebSocketLike
    try {
      ws = new this.options.WebSocket(this.nodes.url)
    } catch (err) {
      this.options.log.warn('murmur: cannot open socket', err)
      this.scheduleRetry(RetryReason.unreachable)
      return
    }
    this.ws = ws
    this.welcomed = false
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null
      if (this.ws !== ws) return
      this.options.log.warn(`murmur: no welcome from ${this.nodes.url}; trying again`)
      this.dropSocket(4000, 'connect timeout')
      this.setState(ConnectionState.connecting)
      this.scheduleRetry(RetryReason.unreachable)
    }, this.options.connectTimeoutMs ?? 10_000)
    // `ws` (Node) hands over each message as a view of the bytes it read, where 'arraybuffer' copies each
    // one into an ArrayBuffer of its own. Decoding reads from the view; what outlives the message (the
    // local store's copy of an update) is copied first, so no read buffer is kept. Browsers know only
    // 'blob' and 'arraybuffer', and warn on (or refuse) any other value: they are never offered it.
    if (RUNS_ON_NODE) {
      try {
        ws.binaryType = 'nodebuffer'
      } catch {
        // refused: set below
      }
    }
    if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer'
    ws.onopen = () => {
      if (this.ws !== ws) return
      void this.handshake(ws)
    }
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return
      this.lastReceivedAt = Date.now()
      this.receive(ev.data)
    }
    ws.onerror = () => {
      // onclose follows and decides what to do.
    }
    ws.onclose = (ev) => {
      if (this.ws !== ws) return
      this.ws = null
      this.lastClose = { code: ev.code, reason: ev.reason }
      this.stopLiveness()
      this.clearConnectTimer()
      if (this._state === ConnectionState.closed || !this.wantOnline) return
      if (ev.code === CloseCode.UNAUTHORIZED) {
        void this.onUnauthorized({ code: ev.code, reason: ev.reason })
        return
      }
      // A node that closes with 1001 is stopping: a restart or a deploy, usually back within seconds.
      let why: RetryReason = this.welcomed ? RetryReason.dropped : RetryReason.unreachable
      if (ev.code === CloseCode.GOING_AWAY) why = RetryReason.stopping
      const wait = this.nodes.retry(why)
      this.setState(ConnectionState.connecting, { code: ev.code, reason: ev.reason })
      this.scheduleRetry(wait)
    }
  }

  private async handshake(ws: WebSocketLike): Promise<void> {
    const token = this.nextToken ?? (await this.currentToken())
    this.nextToken = null
    if (this.ws !== ws) return
    this.sentToken = token
    ws.send(encodeMessage({ type: MessageType.hello, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, token, client: this.options.clientName }))
    this.lastReceivedAt = Date.now()
    this.startLiveness(ws)
  }

  private receive(data: unknown): void {
    let frame: Uint8Array
    if (data instanceof ArrayBuffer) frame = new Uint8Array(data)
    else if (data instanceof Uint8Array) frame = data
    else return
    let msg: Message
    try {
      msg = decodeMessage(frame)
      if (msg.type === MessageType.chunk) {
        const whole = this.assembler.push(msg)
        if (whole === null) return
        msg = decodeMessage(whole)
      }
    } catch (err) {
      this.options.log.warn('murmur: undecodable message from server', err)
      this.dropSocket(4400, 'malformed message from server')
      this.scheduleRetry(RetryReason.unreachable)
      return
    }
    if (msg.type === MessageType.welcome) {
      this.nodes.connected()
      this.welcomed = true
      this.clearConnectTimer()
      this.nodeId = msg.nodeId
      this.lastClose = null
      this.setState(ConnectionState.open, { nodeId: msg.nodeId })
      return
    }
    if (msg.type === MessageType.ping) {
      this.ws?.send(encodeMessage({ type: MessageType.pong, nonce: msg.nonce }))
      return
    }
    if (msg.type === MessageType.pong) return
    for (const l of this.listeners.message) l(msg)
  }

  private startLiveness(ws: WebSocketLike): void {
    this.stopLiveness()
    const pingEvery = this.options.pingIntervalMs ?? 10_000
    const deadAfter = this.options.deadAfterMs ?? 30_000
    this.livenessTimer = setInterval(() => {
      if (this.ws !== ws) return
      const silent = Date.now() - this.lastReceivedAt
      // Our own unsent bytes delay the server's answers: only a socket with nothing queued is judged.
      if (silent >= deadAfter && ws.bufferedAmount === 0) {
        this.options.log.warn('murmur: no traffic from server; reconnecting')
        const why = this.welcomed ? RetryReason.dropped : RetryReason.unreachable
        this.dropSocket(4000, 'liveness timeout')
        this.setState(ConnectionState.connecting)
        this.scheduleRetry(why)
        return
      }
      if (silent >= pingEvery) ws.send(encodeMessage({ type: MessageType.ping, nonce: ++this.pingNonce }))
    }, Math.min(pingEvery, deadAfter) / 2)
  }

  private stopLiveness(): void {
    if (this.livenessTimer !== null) clearInterval(this.livenessTimer)
    this.livenessTimer = null
  }

  /**
   * Connect again after a wait: `why` the last attempt ended (the node for the next one is chosen now),
   * or the wait already chosen with it.
   */
  private scheduleRetry(why: RetryReason | number): void {
    if (this.retryTimer !== null || this._state === ConnectionState.closed || !this.wantOnline) return
    const wait = typeof why === 'number' ? why : this.nodes.retry(why)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      this.connect()
    }, wait)
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer)
    this.connectTimer = null
  }

  private dropSocket(code: number, reason: string): void {
    const ws = this.ws
    this.ws = null
    this.stopLiveness()
    this.clearConnectTimer()
    if (ws === null) return
    ws.onopen = ws.onmessage = null
    // Closing a socket that is still connecting makes Node's `ws` emit an error; without a listener that
    // error would be thrown.
    ws.onerror = () => undefined
    ws.onclose = null
    try {
      ws.close(code, reason)
    } catch {
      // already closing
    }
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    this.stopLiveness()
    this.clearConnectTimer()
  }

  private setState(state: ConnectionState, detail: ConnectionDetail = {}): void {
    if (this._state === state && state !== ConnectionState.connecting) return
    this._state = state
    const full: ConnectionDetail = { url: this.nodes.url, ...detail }
    for (const l of this.listeners.state) l(state, full)
  }
}
