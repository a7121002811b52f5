import { ErrorCode, MessageType, randomId, type EngineName, type Message } from '@murmur/shared/core'
import { Connection, ConnectionState, type ConnectionDetail, type WebSocketConstructor } from './connection.js'
import { DocHandle, HandleStatus, type HandleHost } from './handles/doc-handle.js'
import { IndexedDbStore } from './store/idb-store.js'
import type { LocalStore } from './store/local-store.js'
import { MemoryStore } from './store/memory-store.js'
import { silentLogger, type Logger } from './logger.js'
import { openTabChannel } from './cross-tab.js'
import { DocVersions, httpBaseUrl, type FetchLike } from './versions.js'

export interface ClientOptions {
  /** The node's URL: http(s)://host:port, ws(s)://host:port or ws(s)://host:port/sync. */
  readonly url?: string
  /**
   * The URLs of several nodes of one cluster (each as `url`). The client starts on `url` when it is also
   * given, else on one of them at random, and moves to another when its node is unreachable: a connection
   * that cannot be opened, or one that dropped and cannot be opened again. Local changes not yet
   * acknowledged are sent again to the new node, which acknowledges them without applying them twice.
   */
  readonly urls?: readonly string[]
  /** A fixed token for the hello handshake. */
  readonly token?: string
  /**
   * Called for a token before every (re)connect, and again when the server refuses one (close 4401);
   * wins over `token`. When it returns the token just refused, the client stops retrying (state
   * `unauthorized`, an `error` event on every handle) until `setToken`, `refreshToken` or `reconnectNow`.
   */
  readonly getToken?: () => string | Promise<string>
  /**
   * Where docs are kept on this device. Default: IndexedDB ("murmur" database) where it exists, else
   * memory. Pass a `MemoryStore` shared by two clients to model a reload in tests.
   */
  readonly store?: LocalStore | Promise<LocalStore>
  /** WebSocket implementation; the global one by default (in Node, pass the `ws` package's). */
  readonly WebSocket?: WebSocketConstructor
  /** Share local edits with other tabs of this origin through BroadcastChannel. Default: on with IndexedDB. */
  readonly crossTab?: boolean
  /** Start in offline mode ("work offline"). */
  readonly offline?: boolean
  /** Replicas an update must reach before it is acknowledged (cluster); default 1. */
  readonly replicas?: number
  readonly logger?: Logger
  /** Reconnect backoff bounds (default 250 ms doubling up to 10 s, with jitter). */
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
  /** Ping when nothing was received for this long (default 10 s). */
  readonly pingIntervalMs?: number
  /** Reconnect when nothing was received for this long while nothing of ours is still going out (default 30 s). */
  readonly deadAfterMs?: number
  /** Give up on a connection attempt (and try another node) when no welcome came within this (default 10 s). */
  readonly connectTimeoutMs?: number
  /** `fetch` for the HTTP API (version history); the global one by default. */
  readonly fetch?: FetchLike
}

export interface ClientEvents {
  /** `detail.url` is the node connected to (`open`) or being tried (`connecting`). */
  status(state: ConnectionState, detail: ConnectionDetail): void
}

function syncUrl(url: string): string {
  const u = new URL(url)
  if (u.protocol === 'http:') u.protocol = 'ws:'
  else if (u.protocol === 'https:') u.protocol = 'wss:'
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/sync'
  return u.toString()
}

/**
 * A Murmur client without any engine: one socket to a node for all docs, a local store on the device,
 * and a handle per open doc. The clients apps use add the engines' `open` methods: `MurmurClient` (every
 * built-in engine, from `@murmur/client`), `YjsClient` (`@murmur/client/yjs`), `AutomergeClient`
 * (`@murmur/client/automerge`).
 */
export class ClientCore {
  readonly connection: Connection
  readonly store: Promise<LocalStore>
  private readonly handles = new Map<number, DocHandle>()
  private readonly byKey = new Map<string, DocHandle>()
  private nextRef = 1
  private updateCounter = 0
  private readonly clientTag = randomId(6)
  private readonly log: Logger
  private readonly crossTab: boolean
  private browserOnline = true
  private userOnline: boolean
  private readonly cleanups: (() => void)[] = []

  constructor(private readonly options: ClientOptions) {
    this.log = options.logger ?? silentLogger
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WS === undefined) throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. the ws package)')
    const hasIdb = typeof indexedDB !== 'undefined'
    this.store = Promise.resolve(options.store ?? (hasIdb ? IndexedDbStore.open() : new MemoryStore()))
    this.crossTab = options.crossTab ?? (options.store === undefined && hasIdb && typeof BroadcastChannel !== 'undefined')
    this.userOnline = options.offline !== true
    const urls = [...(options.url === undefined ? [] : [options.url]), ...(options.urls ?? [])]
    if (urls.length === 0) throw new TypeError('no server URL: pass url or urls')
    this.connection = new Connection({
      urls: urls.map(syncUrl),
      WebSocket: WS,
      getToken: options.getToken ?? (() => options.token ?? ''),
      clientName: 'murmur-client/0.1',
      log: this.log,
      backoffInitialMs: options.backoffInitialMs,
      backoffMaxMs: options.backoffMaxMs,
      pingIntervalMs: options.pingIntervalMs,
      deadAfterMs: options.deadAfterMs,
      connectTimeoutMs: options.connectTimeoutMs,
    })
    this.connection.on('state', (state, detail) => {
      if (state === ConnectionState.open) for (const h of this.handles.values()) h.attach()
      else for (const h of this.handles.values()) h.detach()
      if (state === ConnectionState.unauthorized) {
        // Every handle learns why it stopped syncing, as it would from an error about its own doc.
        const message = detail.reason !== undefined && detail.reason !== '' ? detail.reason : 'the server refused the token'
        for (const h of this.handles.values()) h.receive({ type: MessageType.error, ref: h.ref, code: ErrorCode.UNAUTHORIZED, message, updateId: '' })
      }
    })
    this.connection.on('message', (msg) => this.route(msg))
    this.watchBrowserNetwork()
    this.connection.setOnline(this.userOnline && this.browserOnline)
    this.connection.start()
  }

  /**
   * Open (or return the already open) doc `docId` of `engine`, with `make` building its handle (an
   * engine's client adds its own `yjs(docId)`, `automerge(docId)`, ... on top of this).
   */
  protected open<H extends DocHandle>(engine: EngineName, docId: string, make: (ref: number, host: HandleHost) => H): H {
    const existing = this.byKey.get(`${engine}:${docId}`)
    if (existing !== undefined) return existing as H
    const handle = make(this.nextRef++, this.hostFor())
    handle.connectionStatus = () => this.connectionStatus()
    this.handles.set(handle.ref, handle)
    this.byKey.set(handle.docKey, handle)
    handle.updateStatus()
    if (this.connection.state === ConnectionState.open) handle.attach()
    return handle
  }

  private hostFor(): HandleHost {
    return {
      send: (msg: Message) => this.connection.send(msg),
      isConnected: () => this.connection.state === ConnectionState.open,
      nextUpdateId: () => `${this.clientTag}-${Date.now().toString(36)}-${(this.updateCounter++).toString(36).padStart(6, '0')}`,
      store: this.store,
      log: this.log,
      replicas: this.options.replicas ?? 1,
      openTabChannel: (docKey, onUpdate) => (this.crossTab ? openTabChannel(docKey, onUpdate, this.cleanups) : null),
      handleClosed: (h) => {
        this.handles.delete(h.ref)
        this.byKey.delete(h.docKey)
      },
    }
  }

  private connectionStatus(): HandleStatus {
    const state = this.connection.state
    return state === ConnectionState.offline || state === ConnectionState.unauthorized ? HandleStatus.offline : HandleStatus.connecting
  }

  private route(msg: Message): void {
    if (msg.type === MessageType.error && msg.ref === 0) {
      this.log.warn(`murmur: server error ${msg.code}: ${msg.message}`)
      return
    }
    if (!('ref' in msg)) return
    // Only the handle that owns the ref ever sees (and decodes) the payload.
    this.handles.get(msg.ref)?.receive(msg)
  }

  /** The connection state and the node we are connected to. */
  get state(): ConnectionState {
    return this.connection.state
  }

  get nodeId(): string | null {
    return this.connection.nodeId
  }

  /** The sync URL of the node connected to, or of the one the next attempt goes to. */
  get url(): string {
    return this.connection.url
  }

  /**
   * The nodes to move between from now on (as `urls`), say once the app learned the cluster's members.
   * The node the client is on stays until it is unreachable, even when it is not listed.
   */
  setUrls(urls: readonly string[]): void {
    this.connection.setUrls(urls.map(syncUrl))
  }

  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    return this.connection.on('state', listener)
  }

  /**
   * Use `token` from now on: sent at once on a live connection (no reconnect), or used to connect again
   * after the server refused the previous one.
   */
  setToken(token: string): void {
    const live = this.connection.state === ConnectionState.open
    this.connection.setToken(token)
    if (live) for (const h of this.handles.values()) h.resendUnsaved()
  }

  /**
   * Ask `getToken` for a fresh token and hand it to the server on the live socket, without reconnecting.
   * Local changes the old token was refused are sent again under the new one.
   */
  async refreshToken(): Promise<void> {
    const live = this.connection.state === ConnectionState.open
    await this.connection.refreshToken()
    if (live && this.connection.state === ConnectionState.open) for (const h of this.handles.values()) h.resendUnsaved()
  }

  /**
   * The version history of a doc, through the HTTP API of the node the client is on (or will try next)
   * at each request, with this client's token (read rights to list and read, write rights to name,
   * restore and delete).
   */
  versions(engine: EngineName, docId: string): DocVersions {
    const global = globalThis as { fetch?: FetchLike }
    // A browser's fetch must be called on the global object, never detached from it.
    const fetchImpl: FetchLike | undefined = this.options.fetch ?? (global.fetch === undefined ? undefined : (url, init) => (global.fetch as FetchLike).call(globalThis, url, init))
    if (fetchImpl === undefined) throw new TypeError('no fetch implementation: pass options.fetch')
    return new DocVersions({ baseUrl: () => httpBaseUrl(this.connection.url), engine, docId, token: () => this.connection.currentToken(), fetch: fetchImpl })
  }

  /** Connect again now (for example once `getToken` can give a new token after a refusal). */
  reconnectNow(): void {
    this.connection.reconnectNow()
  }

  /** "Work offline": keep editing locally, send nothing, until set back online. */
  setOnline(online: boolean): void {
    this.userOnline = online
    this.applyOnline()
  }

  get online(): boolean {
    return this.userOnline
  }

  private applyOnline(): void {
    this.connection.setOnline(this.userOnline && this.browserOnline)
    for (const h of this.handles.values()) h.updateStatus()
  }

  private watchBrowserNetwork(): void {
    const w = globalThis as { addEventListener?: (t: string, l: () => void) => void; removeEventListener?: (t: string, l: () => void) => void; navigator?: { onLine?: boolean } }
    if (typeof w.addEventListener !== 'function' || w.navigator?.onLine === undefined) return
    this.browserOnline = w.navigator.onLine
    const on = (): void => {
      this.browserOnline = true
      this.applyOnline()
    }
    const off = (): void => {
      this.browserOnline = false
      this.applyOnline()
    }
    w.addEventListener('online', on)
    w.addEventListener('offline', off)
    this.cleanups.push(() => {
      w.removeEventListener?.('online', on)
      w.removeEventListener?.('offline', off)
    })
  }

  /** Close every handle (their local data stays) and the socket. */
  async close(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.close()))
    this.connection.close()
    for (const c of this.cleanups.splice(0)) c()
  }
}
