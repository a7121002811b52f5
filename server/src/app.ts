import { existsSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyStatic from '@fastify/static'
import { WebSocketServer, type WebSocket } from 'ws'
import { CloseCode, ErrorCode, MurmurError, closeReason, isDocId, type DocId } from '@murmur/shared'
import { defaultConfig, type ServerConfig } from './config.js'
import { DocRegistry } from './docs/registry.js'
import { createLogger, type Logger } from './logger.js'
import { openStorage } from './storage/index.js'
import type { Storage } from './storage/storage.js'
import type { SyncContext } from './sync/context.js'
import { ServerSocket } from './sync/socket.js'
import { serveYWebsocket } from './sync/y-websocket.js'
import { serveMurmurSync } from './sync/murmur-sync.js'
import { serveAutomergeRepo } from './sync/automerge-repo.js'
import { registerHealthRoutes } from './http/health.js'
import { registerDocRoutes } from './http/docs.js'
import { Cluster } from './cluster/cluster.js'
import { verifyPeer } from './cluster/peer-auth.js'

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
  /** Stop accepting, close sockets, make every accepted write durable, close storage. */
  close(): Promise<void>
}

export interface ServerDeps {
  /** Use this storage instead of opening the one the config names (tests inject failing ones). */
  readonly storage?: Storage
  readonly logger?: Logger
}

/** Start a Murmur node. */
export async function startServer(overrides: Partial<ServerConfig> = {}, deps: ServerDeps = {}): Promise<MurmurServer> {
  const config: ServerConfig = { ...defaultConfig(), ...overrides }
  const log = deps.logger ?? createLogger(config.logLevel)
  const storage = deps.storage ?? (await openStorage(config.storage, config.dataDir, { groupCommitMs: config.groupCommitMs }))
  const registry = new DocRegistry(storage, config, log)
  const ctx: { -readonly [K in keyof SyncContext]: SyncContext[K] } = { config, registry, log, nodeId: config.nodeId ?? '', cluster: null }
  let cluster: Cluster | null = null
  let selfWsUrl = ''
  const clustered = config.peers.length > 0 || config.clusterSecret !== null

  const http = Fastify({ loggerInstance: log, bodyLimit: config.maxFrameBytes })
  let ready = false
  registerHealthRoutes(http, { isReady: () => ready, registry })
  registerDocRoutes(http, registry)
  if (config.staticDir !== null && existsSync(config.staticDir)) {
    await http.register(fastifyStatic, { root: config.staticDir, wildcard: false })
    http.setNotFoundHandler((req, reply) => {
      if (req.method === 'GET' && !req.url.startsWith('/v1/')) return reply.sendFile('index.html')
      return reply.code(404).send({ error: 'not found' })
    })
  }

  // Single nodes answer too, so tools need not know whether they talk to a cluster.
  http.get('/v1/cluster', async () =>
    cluster !== null ? cluster.describe() : { self: ctx.nodeId, members: [{ id: ctx.nodeId, url: selfWsUrl, httpUrl: selfWsUrl.replace(/^ws/u, 'http'), state: 'alive', incarnation: 0, rttMs: null, connected: true }] },
  )

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false })
  const sockets = new Set<ServerSocket>()
  const limits = { maxBufferedBytes: config.maxBufferedBytes, pingIntervalMs: Math.max(config.keepAliveMs, 1000) }

  const accept = (req: IncomingMessage, tcp: Duplex, head: Buffer, serve: (s: ServerSocket) => void): void => {
    wss.handleUpgrade(req, tcp, head, (ws: WebSocket) => {
      const socket = new ServerSocket(ws, tcp as Socket, limits, log)
      sockets.add(socket)
      ws.on('close', () => sockets.delete(socket))
      // ws reports oversized frames (closing with 1009 itself) and protocol violations here.
      ws.on('error', (err) => log.debug({ err }, 'websocket error'))
      serve(socket)
    })
  }

  http.server.on('upgrade', (req: IncomingMessage, tcp: Duplex, head: Buffer) => {
    tcp.on('error', () => undefined)
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname.startsWith('/yjs/')) {
      let docId: string
      try {
        docId = decodeURIComponent(url.pathname.slice('/yjs/'.length))
      } catch {
        docId = ''
      }
      accept(req, tcp, head, (socket) => {
        if (!isDocId(docId)) {
          socket.closeWith(new MurmurError(ErrorCode.INVALID_DOC_ID, 'invalid doc id in the URL'))
          return
        }
        serveYWebsocket(socket, docId as DocId, ctx)
      })
      return
    }
    if (url.pathname === '/sync') {
      accept(req, tcp, head, (socket) => serveMurmurSync(socket, ctx))
      return
    }
    if (url.pathname === '/automerge' || url.pathname === '/automerge/') {
      accept(req, tcp, head, (socket) => serveAutomergeRepo(socket, ctx))
      return
    }
    if (url.pathname === '/peer' && cluster !== null) {
      const peer = verifyPeer(config.clusterSecret ?? '', req.headers)
      if (peer === null) {
        tcp.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      const c = cluster
      wss.handleUpgrade(req, tcp, head, (ws) => c.accept(ws, peer))
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
    cluster = new Cluster(config, { id: ctx.nodeId, url: selfWsUrl }, registry, storage, log)
    ctx.cluster = cluster.replication
    await cluster.start()
  }
  ready = true

  let closing: Promise<void> | null = null
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
    close() {
      closing ??= (async () => {
        ready = false
        cluster?.close()
        for (const s of sockets) s.close(CloseCode.GOING_AWAY, closeReason(ErrorCode.SHUTTING_DOWN, 'server shutting down'))
        wss.close()
        await http.close()
        await registry.close()
        await storage.close()
      })()
      return closing
    },
  }
}
