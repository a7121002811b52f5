import type { FastifyInstance } from 'fastify'
import { join } from 'node:path'
import { Auth } from './auth/auth.js'
import { REVOCATIONS_FILE } from './auth/revocations.js'
import type { BackupSchedule } from './backup/schedule.js'
import type { Cluster } from './cluster/cluster.js'
import { ConfigError, defaultConfig, type ServerConfig } from './config.js'
import { validateBackups, validateSecurity } from './config-load.js'
import { DocRegistry } from './docs/registry.js'
import { AutoVersions } from './versions/auto-versions.js'
import { DocVersions } from './versions/doc-versions.js'
import { createHttp } from './edge/http.js'
import type { NodeContext } from './edge/node-context.js'
import { httpRoutes, upgradeRoutesOf } from './edge/routes.js'
import { createLogger, type Logger } from './logger.js'
import { LIMIT_OF_ERROR, ServerMetrics } from './metrics/metrics.js'
import { lockStore } from './ownership/store-lock.js'
import { keepsIdentity, resolveNodeId, type NodeIdentity } from './ownership/node-id.js'
import { listenError, storeOpenError } from './startup-error.js'
import { openStorage } from './storage/index.js'
import type { Storage } from './storage/storage.js'
import type { SyncContext } from './sync/context.js'
import { createWebhooks } from './webhooks/setup.js'
import { UpgradeServer } from './ws/upgrades.js'
import { readNodeTls } from './edge/tls.js'
import { networkInterfaces } from 'node:os'

export interface MurmurServer {
  /** http://host:port of this node. */
  readonly url: string
  readonly port: number
  /** This node's id: `--node-id`, the one kept in its data dir, or host:port. */
  readonly nodeId: string
  readonly config: ServerConfig
  readonly registry: DocRegistry
  readonly storage: Storage
  /** The docs' versions; emits `stored` for every version stored on this node. */
  readonly versions: DocVersions
  readonly http: FastifyInstance
  readonly log: Logger
  /** WebSockets open now, all endpoints together. */
  readonly socketCount: number
  /** The node's cluster part, or null on a single node. */
  readonly cluster: Cluster | null
  /** Who may read and write which doc, on every endpoint (the peer link included). */
  readonly auth: Auth
  /** The Prometheus metrics served at `GET /metrics`. */
  readonly metrics: ServerMetrics
  /** Scheduled backups (`--backup-interval-ms`), or null when none are. */
  readonly backups: BackupSchedule | null
  /** Stop accepting, close sockets, make every accepted write durable, close storage. */
  close(): Promise<void>
}

export interface ServerDeps {
  /** Use this storage instead of opening the one the config names (tests inject failing ones). */
  readonly storage?: Storage
  readonly logger?: Logger
}

/**
 * Start a Murmur node: its parts (auth, storage, the doc registry, metrics, webhooks), then its edge
 * (the HTTP routes and WebSocket upgrade paths of `edge/routes.ts`), then, once it listens, its cluster
 * part.
 */
export async function startServer(overrides: Partial<ServerConfig> = {}, deps: ServerDeps = {}): Promise<MurmurServer> {
  const config: ServerConfig = { ...defaultConfig(), ...overrides }
  // Before anything is opened: a node that does not know how clients authenticate does not start.
  validateSecurity(config)
  validateBackups(config)
  const tls = readNodeTls(config)
  const auth = new Auth({
    anonymous: config.anonymous,
    secret: config.authSecret,
    publicKeyFile: config.authPublicKey,
    jwksFile: config.authJwks,
    jwksUrl: config.authJwksUrl,
    jwksCooldownMs: config.authJwksCooldownMs,
    revocationsFile: config.authRevocations,
    revocationsDefaultFile: ['', 'sqlite'].includes(config.storage.trim()) ? join(config.dataDir, REVOCATIONS_FILE) : null,
    onRevocationsError: (err) => log.error({ err }, 'could not read the revocation list; the previous one stays'),
    issuer: config.authIssuer,
    audience: config.authAudience,
    clusterSecret: config.clusterSecret,
    clusterSecretPrevious: config.clusterSecretPrevious,
  })
  const log = deps.logger ?? createLogger(config.logLevel)
  // One owner per store: taken before the store is opened, refused with the holder's name otherwise.
  const lock = deps.storage === undefined ? await lockStore(config.storage, config.dataDir, config.nodeId, (err) => log.fatal({ err }, 'lost the store lock')) : null
  // The id is kept in the data dir (SQLite storage), so a restart keeps it; a data dir of another id refuses.
  let identity: NodeIdentity
  try {
    identity = resolveNodeId(deps.storage === undefined && keepsIdentity(config.storage) ? config.dataDir : null, config.nodeId, config.renameNode)
  } catch (err) {
    await lock?.release()
    throw err
  }
  if (identity.note !== null) {
    if (identity.renamed === true) log.warn(identity.note)
    else log.info(identity.note)
  }
  let storage: Storage
  try {
    storage = deps.storage ?? (await openStorage(config.storage, config.dataDir, { groupCommitMs: config.groupCommitMs }))
  } catch (err) {
    await lock?.release()
    throw storeOpenError(config.storage, config.dataDir, err)
  }
  const registry = new DocRegistry(storage, config, log)
  const versions = new DocVersions(registry, storage)
  const autoVersions = new AutoVersions(
    versions,
    storage,
    { idleMs: config.autoVersionIdleMs, minIntervalMs: config.autoVersionIntervalMs, keep: config.autoVersionKeep, maxAgeMs: config.autoVersionMaxAgeMs },
    (origin) => cluster?.replication.isPeerOrigin(origin) ?? false,
    log,
  )
  registry.watchers.push(autoVersions)
  let cluster: Cluster | null = null
  let ready = false
  let storageFailure: Error | null = null
  let selfUrl = ''
  const webhooksOn = config.webhookUrl !== null
  const metrics = new ServerMetrics({
    docsLoaded: () => registry.loadedCount,
    docsHibernating: () => registry.hibernatingCount(),
    connections: () => upgrades.connections,
    cluster: () => cluster?.describe() ?? null,
    outboxPending: async () => (webhooksOn ? storage.outboxCount().catch(() => null) : null),
  })
  storage.onCommit((seconds, appends) => metrics.storageCommitted(seconds, appends))
  storage.onFatal?.((err) => {
    storageFailure = err
    log.fatal({ err }, 'storage can no longer write: every write fails until the node restarts')
  })
  registry.watchers.push({ loaded: () => undefined, changed: (doc) => metrics.docChanged(doc.key.engine), unloaded: () => undefined })
  const sync: { -readonly [K in keyof SyncContext]: SyncContext[K] } = {
    config,
    registry,
    log,
    nodeId: identity.id ?? '',
    auth,
    metrics: { acked: (s) => metrics.acked(s), error: (code) => metrics.error(code), limitHit: (limit) => metrics.limitHit(limit) },
    presence: {
      limits: { maxIdsPerSocket: config.maxAwarenessIdsPerSocket, maxBytesPerSocket: config.maxAwarenessBytesPerSocket, maxIdsPerDoc: config.maxAwarenessIdsPerDoc },
      limitHit: (limit) => metrics.limitHit(limit),
    },
    broadcastStateless: (doc, payload) => cluster?.replication.broadcastStateless(doc, payload),
  }
  const webhooks = createWebhooks(config, storage, registry, metrics, log, () => sync.nodeId)
  const node: NodeContext = {
    config,
    log,
    auth,
    revocations: auth.revocations,
    registry,
    storage,
    versions,
    metrics,
    sync,
    webhooks: webhooks?.notifier ?? null,
    cluster: () => cluster,
    selfUrl: () => selfUrl,
    ready: () => ready && (cluster?.identity.error() ?? null) === null,
    storageFailure: () => storageFailure,
  }

  const http = await createHttp(httpRoutes, node, tls.serve)
  const upgrades = new UpgradeServer(upgradeRoutesOf(config.hocuspocusPath), node, {
    limits: {
      maxBufferedBytes: config.maxBufferedBytes,
      pingIntervalMs: Math.max(config.keepAliveMs, 1000),
      maxFrameBytes: config.maxFrameBytes,
      keepAliveMs: config.keepAliveMs,
      maxMessagesPerSecond: config.maxMessagesPerSecond,
      messageBurst: config.messageBurst,
    },
    ipConnectionsPerSecond: config.ipConnectionsPerSecond,
    ipConnectionBurst: config.ipConnectionBurst,
    log,
    auth,
    metrics: {
      opened: (endpoint) => metrics.connectionOpened(endpoint),
      received: (endpoint, n) => metrics.received(endpoint, n),
      sent: (endpoint, n) => metrics.sent(endpoint, n),
      error: (code) => {
        metrics.error(code)
        const limit = LIMIT_OF_ERROR[code]
        if (limit !== undefined) metrics.limitHit(limit)
      },
    },
  })
  upgrades.listen(http.server)

  try {
    await http.listen({ host: config.host, port: config.port })
  } catch (err) {
    await registry.close().catch(() => undefined)
    await storage.close().catch(() => undefined)
    await lock?.release()
    throw listenError(config.host, config.port, err)
  }
  const address = http.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host
  // Without a configured id a node is named by where it listens, which is unique on one machine.
  sync.nodeId = identity.id ?? `${hostForUrl}:${port}`
  const scheme = tls.serve === null ? 'ws' : 'wss'
  selfUrl = config.advertiseUrl ?? `${scheme}://${hostForUrl}:${port}`
  if (config.peers.length > 0 || config.clusterSecret !== null) {
    const [{ Cluster }, { nodeAudiences }] = await Promise.all([import('./cluster/cluster.js'), import('./cluster/peer-auth.js')])
    const self = { id: sync.nodeId, url: selfUrl }
    const audiences = nodeAudiences(self, { scheme, host: config.host, port }, localAddresses())
    cluster = new Cluster(config, { ...self, store: identity.store, audiences }, registry, storage, log, sync.presence, tls.peerCa, auth.revocations)
    const replicated = cluster.versions
    versions.on('stored', (key, version) => replicated.stored(key, version))
    versions.on('removed', (key, id) => replicated.removed(key, id))
    await cluster.start()
  }
  webhooks?.deliverer.start()
  const backups = config.backupIntervalMs > 0 ? await startBackups(config, log, metrics) : null
  ready = true

  let closing: Promise<void> | null = null
  return {
    url: `${tls.serve === null ? 'http' : 'https'}://${hostForUrl}:${port}`,
    port,
    nodeId: sync.nodeId,
    config,
    registry,
    storage,
    versions,
    http,
    log,
    get socketCount() {
      return upgrades.sockets.size
    },
    get cluster() {
      return cluster
    },
    auth,
    metrics,
    backups,
    close() {
      closing ??= (async () => {
        ready = false
        auth.close()
        await backups?.close()
        cluster?.close()
        upgrades.closeAll()
        const httpClosed = http.close()
        // The HTTP server only finishes closing once every upgraded socket is gone; a peer that never
        // completes the closing handshake must not keep the process alive.
        const grace = setTimeout(() => upgrades.terminateAll(), 1000)
        await httpClosed
        clearTimeout(grace)
        await webhooks?.notifier.close()
        await webhooks?.deliverer.close()
        autoVersions.close()
        await registry.close()
        // Hints taken until now are owed to peers after the restart too.
        await cluster?.hints.written()
        await storage.close()
        await lock?.release()
      })()
      return closing
    },
  }
}

/** Every IP address of this machine (a node listening on all of them answers to each). */
function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address))
}

/** The schedule of `--backup-interval-ms`: every backup logged and counted in the metrics. */
async function startBackups(config: ServerConfig, log: Logger, metrics: ServerMetrics): Promise<BackupSchedule> {
  const [{ BackupSchedule }, { openLocation }, { s3Options }] = await Promise.all([
    import('./backup/schedule.js'),
    import('./backup/location.js'),
    import('./backup/commands.js'),
  ])
  const location = await openLocation(config.backupTo ?? '', s3Options(config))
  if (!location.isFolder) throw new ConfigError(`--backup-to must be a folder (ending with /) or an s3://bucket/prefix/, got "${config.backupTo}"`)
  const schedule = new BackupSchedule({
    store: { storage: config.storage, dataDir: config.dataDir },
    location,
    intervalMs: config.backupIntervalMs,
    keep: config.backupKeep,
    log,
    report: (outcome) =>
      metrics.backup(
        outcome.ok ? 'ok' : 'failed',
        outcome.ok ? { takenAt: Date.parse(outcome.result.header.createdAt), bytes: outcome.result.bytes, seconds: outcome.result.seconds } : undefined,
      ),
  })
  schedule.start()
  return schedule
}
