import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { CloseCode, ErrorCode, MurmurError, closeReason } from '@murmur/shared'
import { ConnectionAuth, tokenFromRequest, type Authenticator } from '../auth/auth.js'
import type { Logger } from '../logger.js'
import { KeyedRateLimiter } from '../limits/token-bucket.js'
import { LivenessWheel } from './liveness.js'
import { BatchedMeter } from './meter.js'
import { ServerSocket, type SocketEnv, type SocketLimits } from './socket.js'
import { acceptUpgrade } from './websocket.js'

function ignore(): void {}

/**
 * A WebSocket upgrade to one of the client endpoints, as its handler sees it: the URL and token it came
 * with, and the ways to answer. Every answer is a WebSocket, so even a browser learns why it was refused.
 */
export interface ClientUpgrade {
  readonly url: URL
  /** `Authorization: Bearer` or `?token=`; empty when none. */
  readonly token: string
  /** Accept now; `serve` makes the endpoint's connection, which lives on as the socket's handler. */
  accept(serve: (socket: ServerSocket) => void): void
  /**
   * Accept once the token verified, so that no frame arrives ahead of the decision; refused with 4401
   * otherwise. `access` closes the socket with 4401 when the token expires.
   */
  acceptAuthenticated(serve: (socket: ServerSocket, access: ConnectionAuth) => void): void
  /** Accept and close at once with the error's code. */
  refuse(err: unknown): void
}

/** An upgrade handed on as it came (the cluster's `/peer` link, which runs on `ws`). */
export interface RawUpgrade {
  readonly req: IncomingMessage
  readonly tcp: Duplex
  readonly head: Buffer
  readonly url: URL
  /** Answer with a bare HTTP status and close. */
  reject(status: 401 | 404): void
}

/** One row of the edge table for WebSocket upgrades (see `edge/routes.ts`). */
export type UpgradeRoute<C> =
  | {
      /** The path as the docs write it. */
      readonly path: string
      readonly matches: (pathname: string) => boolean
      /** Served on `ServerSocket`; the name labels its metrics. */
      readonly endpoint: string
      readonly serve: (upgrade: ClientUpgrade, context: C) => void
    }
  | {
      readonly path: string
      readonly matches: (pathname: string) => boolean
      readonly endpoint: null
      readonly serve: (upgrade: RawUpgrade, context: C) => void
    }

/** Where the client endpoints report their sockets (metrics). */
export interface UpgradeMetrics {
  opened(endpoint: string): void
  received(endpoint: string, bytes: number): void
  sent(endpoint: string, bytes: number): void
  error(code: string): void
}

export interface UpgradeOptions {
  readonly limits: SocketLimits
  /** New connections per second from one address (0: unlimited), with bursts of `ipConnectionBurst`. */
  readonly ipConnectionsPerSecond: number
  readonly ipConnectionBurst: number
  readonly log: Logger
  readonly auth: Authenticator
  readonly metrics: UpgradeMetrics
}

const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
const STATUS_LINE = { 401: 'HTTP/1.1 401 Unauthorized', 404: 'HTTP/1.1 404 Not Found' } as const

/**
 * The node's WebSocket edge: takes every upgrade request of the HTTP server, finds its row in the table,
 * and hands the handler a `ClientUpgrade` (client endpoints, on `ServerSocket`) or a `RawUpgrade`. It
 * owns what the client sockets share: one liveness wheel, one socket environment per endpoint, the
 * per-address connection limit, and the raw sockets of upgrades in progress (for a bounded shutdown).
 */
export class UpgradeServer<C> {
  /** Every client socket; one timer visits them all for keep-alives and liveness. */
  readonly sockets: LivenessWheel<ServerSocket>
  /** Client sockets open now, per endpoint. */
  readonly connections: Record<string, number> = {}
  private readonly envs = new Map<string, SocketEnv>()
  /** Raw TCP sockets of every upgrade not yet handed to a `ServerSocket`, so that close() can end those that linger. */
  private readonly upgraded = new Set<Duplex>()
  private readonly perIp: KeyedRateLimiter
  private closing = false

  constructor(
    private readonly routes: readonly UpgradeRoute<C>[],
    private readonly context: C,
    private readonly options: UpgradeOptions,
  ) {
    this.sockets = new LivenessWheel<ServerSocket>(options.limits.keepAliveMs)
    this.perIp = new KeyedRateLimiter(options.ipConnectionsPerSecond, options.ipConnectionBurst)
    for (const route of routes) if (route.endpoint !== null) this.envs.set(route.endpoint, this.envOf(route.endpoint))
  }

  /** Serve the upgrades of `server`. */
  listen(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, tcp: Duplex, head: Buffer) => this.upgrade(req, tcp, head))
  }

  /** What the sockets of one endpoint share, made once per endpoint rather than once per socket. */
  private envOf(endpoint: string): SocketEnv {
    const { metrics } = this.options
    this.connections[endpoint] = 0
    return {
      limits: this.options.limits,
      log: this.options.log,
      wheel: this.sockets,
      meter: new BatchedMeter({
        received: (n) => metrics.received(endpoint, n),
        sent: (n) => metrics.sent(endpoint, n),
        error: (code) => metrics.error(code),
        closed: () => {
          this.connections[endpoint]--
        },
      }),
    }
  }

  private readonly forgetUpgraded = (tcp: Duplex): void => {
    this.upgraded.delete(tcp)
  }

  private upgrade(req: IncomingMessage, tcp: Duplex, head: Buffer): void {
    tcp.on('error', ignore)
    if (this.closing) {
      tcp.destroy()
      return
    }
    this.upgraded.add(tcp)
    tcp.on('close', forgetOnClose)
    ;(tcp as TrackedDuplex)[TRACKER] = this.forgetUpgraded
    const url = new URL(req.url ?? '/', 'http://localhost')
    const route = this.routes.find((r) => r.matches(url.pathname))
    if (route === undefined) {
      tcp.end(NOT_FOUND)
      return
    }
    if (route.endpoint === null) {
      route.serve({ req, tcp, head, url, reject: (status) => tcp.end(`${STATUS_LINE[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`) }, this.context)
      return
    }
    const endpoint = route.endpoint
    const upgrade = new PendingUpgrade(this, req, tcp, head, endpoint, url)
    // The address is read only when limits need it: Node keeps what it read on the socket for good.
    if (this.perIp.enabled && !this.perIp.take(req.socket.remoteAddress ?? '')) {
      upgrade.refuse(new MurmurError(ErrorCode.RATE_LIMITED, 'too many new connections from this address; retry later'))
      return
    }
    route.serve(upgrade, this.context)
  }

  /** Answer 101 and make the `ServerSocket` (false when the request was no valid WebSocket handshake). */
  open(req: IncomingMessage, tcp: Duplex, head: Buffer, endpoint: string): ServerSocket | null {
    if (!acceptUpgrade(req, tcp)) return null
    // From here the socket is the ServerSocket's: it listens for errors and the node's shutdown closes it.
    tcp.off('error', ignore)
    tcp.off('close', forgetOnClose)
    this.upgraded.delete(tcp)
    const socket = new ServerSocket(tcp as Socket, this.envs.get(endpoint) as SocketEnv, head)
    this.connections[endpoint]++
    this.options.metrics.opened(endpoint)
    return socket
  }

  get auth(): Authenticator {
    return this.options.auth
  }

  /** Take no more upgrades and close every client socket as the node goes down. */
  closeAll(): void {
    this.closing = true
    for (const s of this.sockets.values()) s.close(CloseCode.GOING_AWAY, closeReason(ErrorCode.SHUTTING_DOWN, 'server shutting down'))
  }

  /** End what lingers: raw upgrades and sockets that never completed the closing handshake. */
  terminateAll(): void {
    for (const tcp of this.upgraded) tcp.destroy()
    for (const s of this.sockets.values()) s.terminate()
  }
}

const TRACKER = Symbol('murmur.upgrade')
type TrackedDuplex = Duplex & { [TRACKER]?: (tcp: Duplex) => void }

// Listeners get the TCP socket as `this`: one function serves every upgrade.
function forgetOnClose(this: TrackedDuplex): void {
  this[TRACKER]?.(this)
}

/** The token of a live socket, closing it with 4401 once the token expires or is revoked. */
function connectionAuth(auth: Authenticator, socket: ServerSocket, identity: Awaited<ReturnType<Authenticator['authenticate']>>): ConnectionAuth {
  return new ConnectionAuth(auth, identity, (why) => socket.closeWith(new MurmurError(ErrorCode.UNAUTHORIZED, why)))
}

/** What an upgrade in progress needs from the server that took it. */
interface SocketOpener {
  readonly auth: Authenticator
  open(req: IncomingMessage, tcp: Duplex, head: Buffer, endpoint: string): ServerSocket | null
}

class PendingUpgrade implements ClientUpgrade {
  readonly token: string

  constructor(
    private readonly server: SocketOpener,
    private readonly req: IncomingMessage,
    private readonly tcp: Duplex,
    private readonly head: Buffer,
    private readonly endpoint: string,
    readonly url: URL,
  ) {
    this.token = tokenFromRequest(req.headers, url)
  }

  accept(serve: (socket: ServerSocket) => void): void {
    const socket = this.server.open(this.req, this.tcp, this.head, this.endpoint)
    if (socket !== null) serve(socket)
  }

  acceptAuthenticated(serve: (socket: ServerSocket, access: ConnectionAuth) => void): void {
    const auth = this.server.auth
    auth.authenticate(this.token).then(
      (identity) => this.accept((socket) => serve(socket, connectionAuth(auth, socket, identity))),
      (err: unknown) => this.refuse(err),
    )
  }

  refuse(err: unknown): void {
    this.accept((socket) => socket.closeWith(err))
  }
}
