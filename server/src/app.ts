import { existsSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { WebSocketServer } from 'ws'
import { CloseCode, EngineName, ErrorCode, MurmurError, closeReason, isDocId, type DocId } from '@murmur/shared'
import { Auth, ConnectionAuth, tokenFromRequest, type Identity } from './auth/auth.js'
import { defaultConfig, validateSecurity, type ServerConfig } from './config.js'
import { DocRegistry } from './docs/registry.js'
import { createLogger, type Logger } from './logger.js'
import { openStorage } from './storage/index.js'
import type { Storage } from './storage/storage.js'
import type { SyncContext } from './sync/context.js'
import { ServerSocket, type SocketEnv } from './sync/socket.js'
import { acceptUpgrade } from './sync/websocket.js'
import { LivenessWheel } from './sync/liveness.js'
import { BatchedMeter } from './sync/meter.js'
import { YWebsocketConnection } from './sync/y-websocket.js'
import { SyncConnection } from './sync/murmur-sync.js'
import { RepoConnection } from './sync/automerge-repo.js'
import { registerHealthRoutes } from './http/health.js'
import { registerDocRoutes } from './http/docs.js'
import { registerClusterRoutes } from './http/cluster-routes.js'
import { registerErrorHandler } from './http/errors.js'
import { registerHttpAuth } from './http/auth.js'
import { KeyedRateLimiter } from './limits/token-bucket.js'
import { Endpoint, ServerMetrics } from './metrics/metrics.js'
import { WebhookNotifier } from './webhooks/notifier.js'
import { WebhookDeliverer } from './webhooks/deliverer.js'
import type { Cluster } from './cluster/cluster.js'
import { verifyPeer } from './cluster/peer-auth.js'
import { PeerOrigin } from './cluster/replication.js'

export interface MurmurServer {
  /** http://host:port of this node. */
  readonly url: string
  readonly port: number
  readonly config: ServerConfig
  readonly registry: DocRegistry
  readonly storage: Storage
  readonly http: FastifyInstance
  readonly log: Logger
  /** WebSockets open now, all endpoints together. */
  readonly socketCount: number
  /** The node's cluster part, or null on a single node. */
  readonly cluster: Cluster | null
  /** Who may read and write which doc, on every endpoint. */
  readonly auth: Auth
  /** The Prometheus metrics served at `GET /metrics`. */
  readonly metrics: ServerMetrics
  /** Stop accepting, close sockets, make every accepted write durable, close storage. */
  close(): Promise<void>
}

export interface ServerDeps {
  /** Use this storage instead of opening the one the config names (tests inject failing ones). */
  readonly storage?: Storage
  readonly logger?: Logger
}

function ignore(): void {}

/** Start a Murmur node. */
export async function startServer(overrides: Partial<ServerConfig> = {}, deps: ServerDeps = {}): Promise<MurmurServer> {
  const config: ServerConfig = { ...defaultConfig(), ...overrides }
  // Before anything is opened: a node that does not know how clients authenticate does not start.
  validateSecurity(config)
  const auth = new Auth({
    anonymous: config.anonymous,
    secret: config.authSecret,
    publicKeyFile: config.authPublicKey,
    jwksFile: config.authJwks,
    issuer: config.authIssuer,
    audience: config.authAudience,
  })
  const log = deps.logger ?? createLogger(config.logLevel)
  const storage = deps.storage ?? (await openStorage(config.storage, config.dataDir, { groupCommitMs: config.groupCommitMs }))
  const registry = new DocRegistry(storage, config, log)
  let cluster: Cluster | null = null
  const connections: Record<Endpoint, number> = { sync: 0, yjs: 0, automerge: 0 }
  const webhooksOn = config.webhookUrl !== null
  const metrics = new ServerMetrics({
    docsLoaded: () => registry.loadedCount,
    docsHibernating: () => registry.hibernatingCount(),
    connections: () => connections,
    cluster: () => cluster?.describe() ?? null,
    outboxPending: async () => (webhooksOn ? storage.outboxCount().catch(() => null) : null),
  })
  storage.onCommit((seconds, appends) => metrics.storageCommitted(seconds, appends))
  let storageFailure: Error | null = null
  storage.onFatal?.((err) => {
    storageFailure = err
    log.fatal({ err }, 'storage can no longer write: every write fails until the node restarts')
  })
  registry.watchers.push({ loaded: () => undefined, changed: (doc) => metrics.docChanged(doc.key.engine), unloaded: () => undefined })
  const ctx: { -readonly [K in keyof SyncContext]: SyncContext[K] } = {
    config,
    registry,
    log,
    nodeId: config.nodeId ?? '',
    auth,
    metrics: { acked: (s) => metrics.acked(s), error: (code) => metrics.error(code) },
  }
  let selfWsUrl = ''
  const clustered = config.peers.length > 0 || config.clusterSecret !== null

  // Webhooks: changes become durable outbox messages (debounced per doc), sent signed, at least once.
  let deliverer: WebhookDeliverer | null = null
  let notifier: WebhookNotifier | null = null
  if (config.webhookUrl !== null) {
    const d = new WebhookDeliverer(
      storage,
      {
        url: config.webhookUrl,
        secret: config.webhookSecret ?? '',
        retryMs: config.webhookRetryMs,
        retryMaxMs: Math.max(config.webhookRetryMs, config.webhookRetryMaxMs),
        timeoutMs: 10_000,
        pollMs: 1000,
        concurrency: 4,
        onResult: (result) => metrics.webhook(result),
      },
      log,
    )
    deliverer = d
    notifier = new WebhookNotifier(
      storage,
      { debounceMs: config.webhookDebounceMs, nodeId: () => ctx.nodeId, ignoreOrigin: (o) => o instanceof PeerOrigin, onDue: () => d.kick() },
      log,
    )
    registry.watchers.push(notifier)
  }

  const http = Fastify({ loggerInstance: log, bodyLimit: config.maxFrameBytes })
  let ready = false
  registerErrorHandler(http, (code) => metrics.error(code))
  // Health and metrics come before the rate limit, which applies to the routes registered after it.
  registerHealthRoutes(http, { isReady: () => ready, storageFailure: () => storageFailure, registry })
  http.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.render()))
  if (config.httpRequestsPerMinute > 0) {
    await http.register(rateLimit, { global: true, max: config.httpRequestsPerMinute, timeWindow: 60_000 })
  }
  registerHttpAuth(http, auth)
  registerDocRoutes(http, {
    registry,
    storage,
    auth,
    announceDelete: (key, deletedAt) => cluster?.replication.announceDelete(key, deletedAt),
    onDeleted: (key, deletedAt) => void notifier?.deleted(key, deletedAt).catch((err: unknown) => log.error({ err }, 'could not queue a doc.deleted webhook')),
  })
  if (config.staticDir !== null && existsSync(config.staticDir)) {
    // Loaded only when there is a folder to serve, like the cluster's modules below: a node starts faster.
    const { default: fastifyStatic } = await import('@fastify/static')
    await http.register(fastifyStatic, { root: config.staticDir, wildcard: false })
    http.setNotFoundHandler((req, reply) => {
      if (req.method === 'GET' && !req.url.startsWith('/v1/')) return reply.sendFile('index.html')
      return reply.code(404).send({ error: 'not found' })
    })
  }

  // Single nodes answer too, so tools need not know whether they talk to a cluster.
  registerClusterRoutes(http, {
    cluster: () => cluster,
    single: () => ({ self: ctx.nodeId, members: [{ id: ctx.nodeId, url: selfWsUrl, httpUrl: selfWsUrl.replace(/^ws/u, 'http'), state: 'alive', incarnation: 0, rttMs: null, connected: true }] }),
    clusterSecret: config.clusterSecret,
  })

  /** Cluster links (`/peer`) use `ws`; client endpoints speak WebSocket themselves (`ServerSocket`). */
  const peerWss: WebSocketServer | null = clustered
    ? new (await import('ws')).WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
    : null
  /** Every client socket; one timer visits them all for keep-alives and liveness. */
  const sockets = new LivenessWheel<ServerSocket>(config.keepAliveMs)
  /** Raw TCP sockets of every upgrade, so that close() can end the ones that linger. */
  const upgraded = new Set<Duplex>()
  const forgetUpgraded = function (this: Duplex): void {
    upgraded.delete(this)
  }
  let closing: Promise<void> | null = null
  const limits = {
    maxBufferedBytes: config.maxBufferedBytes,
    pingIntervalMs: Math.max(config.keepAliveMs, 1000),
    maxFrameBytes: config.maxFrameBytes,
    keepAliveMs: config.keepAliveMs,
    maxMessagesPerSecond: config.maxMessagesPerSecond,
    messageBurst: config.messageBurst,
  }
  // What the sockets of one endpoint share, made once per endpoint rather than once per socket.
  const envOf = (endpoint: Endpoint): SocketEnv => ({
    limits,
    log,
    wheel: sockets,
    meter: new BatchedMeter({
      received: (n) => metrics.received(endpoint, n),
      sent: (n) => metrics.sent(endpoint, n),
      error: (code) => metrics.error(code),
      closed: () => {
        connections[endpoint]--
      },
    }),
  })
  const envs: Record<Endpoint, SocketEnv> = { sync: envOf(Endpoint.sync), yjs: envOf(Endpoint.yjs), automerge: envOf(Endpoint.automerge) }
  const perIp = new KeyedRateLimiter(config.ipConnectionsPerSecond, config.ipConnectionBurst)

  /** Upgrade, then `serve` makes the endpoint's connection, which lives on as the socket's handler. */
  const accept = (req: IncomingMessage, tcp: Duplex, head: Buffer, endpoint: Endpoint, serve: (s: ServerSocket) => void): void => {
    if (!acceptUpgrade(req, tcp)) return
    // From here the socket is the ServerSocket's: it listens for errors and the node's shutdown closes it.
    tcp.off('error', ignore)
    tcp.off('close', forgetUpgraded)
    upgraded.delete(tcp)
    const socket = new ServerSocket(tcp as Socket, envs[endpoint], head)
    connections[endpoint]++
    metrics.connectionOpened(endpoint)
    serve(socket)
  }

  /** Accept and close at once with the error's code, so that even a browser client learns why. */
  const refuse = (req: IncomingMessage, tcp: Duplex, head: Buffer, endpoint: Endpoint, err: unknown): void =>
    accept(req, tcp, head, endpoint, (socket) => socket.closeWith(err))

  /**
   * Endpoints whose token comes with the upgrade (`?token=` or `Authorization: Bearer`): it is checked
   * before the socket is accepted, so no frame can arrive ahead of the decision.
   */
  const acceptAuthenticated = (
    req: IncomingMessage,
    tcp: Duplex,
    head: Buffer,
    endpoint: Endpoint,
    token: string,
    serve: (s: ServerSocket, identity: Identity) => void,
  ): void => {
    auth.authenticate(token).then(
      (identity) => {
        accept(req, tcp, head, endpoint, (socket) => serve(socket, identity))
      },
      (err: unknown) => {
        refuse(req, tcp, head, endpoint, err)
      },
    )
  }

  /** The identity of a live socket, closing it with 4401 once the token expires (if it ever does). */
  const connectionAuth = (socket: ServerSocket, identity: Identity): ConnectionAuth =>
    new ConnectionAuth(auth, identity, identity.expiresAt === null ? ignore : () => socket.closeWith(new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired')))

  http.server.on('upgrade', (req: IncomingMessage, tcp: Duplex, head: Buffer) => {
    tcp.on('error', ignore)
    if (closing !== null) {
      tcp.destroy()
      return
    }
    upgraded.add(tcp)
    tcp.on('close', forgetUpgraded)
    const url = new URL(req.url ?? '/', 'http://localhost')
    const endpoint: Endpoint | null = url.pathname.startsWith('/yjs/')
      ? Endpoint.yjs
      : url.pathname === '/sync'
        ? Endpoint.sync
        : url.pathname === '/automerge' || url.pathname === '/automerge/'
          ? Endpoint.automerge
          : null
    // The address is read only when limits need it: Node keeps what it read on the socket for good.
    if (endpoint !== null && perIp.enabled && !perIp.take(req.socket.remoteAddress ?? '')) {
      refuse(req, tcp, head, endpoint, new MurmurError(ErrorCode.RATE_LIMITED, 'too many new connections from this address; retry later'))
      return
    }
    const token = tokenFromRequest(req.headers, url)
    if (endpoint === Endpoint.yjs) {
      let docId: string
      try {
        docId = decodeURIComponent(url.pathname.slice('/yjs/'.length))
      } catch {
        docId = ''
      }
      if (!isDocId(docId)) {
        refuse(req, tcp, head, endpoint, new MurmurError(ErrorCode.INVALID_DOC_ID, 'invalid doc id in the URL'))
        return
      }
      acceptAuthenticated(req, tcp, head, endpoint, token, (socket, identity) => {
        const access = connectionAuth(socket, identity)
        if (!access.can(EngineName.yjs, docId, 'read')) {
          access.dispose()
          socket.closeWith(new MurmurError(ErrorCode.FORBIDDEN, `the token does not allow reading yjs:${docId.slice(0, 60)}`))
          return
        }
        new YWebsocketConnection(socket, docId as DocId, ctx, access)
      })
      return
    }
    if (endpoint === Endpoint.sync) {
      accept(req, tcp, head, endpoint, (socket) => new SyncConnection(socket, ctx, token))
      return
    }
    if (endpoint === Endpoint.automerge) {
      acceptAuthenticated(req, tcp, head, endpoint, token, (socket, identity) => new RepoConnection(socket, ctx, connectionAuth(socket, identity)))
      return
    }
    if (url.pathname === '/peer' && cluster !== null && peerWss !== null) {
      const peer = verifyPeer(config.clusterSecret ?? '', req.headers)
      if (peer === null) {
        tcp.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      const c = cluster
      peerWss.handleUpgrade(req, tcp, head, (ws) => c.accept(ws, peer))
      return
    }
    tcp.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  })

  await http.listen({ host: config.host, port: config.port })
  const address = http.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host
  // Without a configured id a node is named by where it listens, which is unique on one machine.
  ctx.nodeId = config.nodeId ?? `${hostForUrl}:${port}`
  selfWsUrl = config.advertiseUrl ?? `ws://${hostForUrl}:${port}`
  if (clustered) {
    const { Cluster } = await import('./cluster/cluster.js')
    cluster = new Cluster(config, { id: ctx.nodeId, url: selfWsUrl }, registry, storage, log)
    await cluster.start()
  }
  deliverer?.start()
  ready = true

  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    config,
    registry,
    storage,
    http,
    log,
    get socketCount() {
      return sockets.size
    },
    get cluster() {
      return cluster
    },
    auth,
    metrics,
    close() {
      closing ??= (async () => {
        ready = false
        cluster?.close()
        for (const s of sockets.values()) s.close(CloseCode.GOING_AWAY, closeReason(ErrorCode.SHUTTING_DOWN, 'server shutting down'))
        peerWss?.close()
        const httpClosed = http.close()
        // The HTTP server only finishes closing once every upgraded socket is gone; a peer that never
        // completes the closing handshake must not keep the process alive.
        const grace = setTimeout(() => {
          for (const tcp of upgraded) tcp.destroy()
          for (const s of sockets.values()) s.terminate()
        }, 1000)
        await httpClosed
        clearTimeout(grace)
        await notifier?.close()
        await deliverer?.close()
        await registry.close()
        await storage.close()
      })()
      return closing
    },
  }
}
