import { parseArgs } from 'node:util'
import path from 'node:path'

/**
 * Every setting of a Murmur node, with its default. Built in one place (`loadConfig`) from CLI flags,
 * then environment variables, then these defaults. docs/operations.md lists the same table.
 */
export interface ServerConfig {
  /** Interface to listen on. Loopback by default: exposing a node is an explicit choice. */
  host: string
  /** TCP port; 0 picks a free one (tests). */
  port: number
  /** Folder for the embedded SQLite store. */
  dataDir: string
  /** "sqlite" (default), "memory" (tests only: nothing survives a restart) or a postgres:// URL. */
  storage: string
  /** Largest WebSocket frame accepted; larger ones close the socket with 1009. */
  maxFrameBytes: number
  /** Largest encoded doc a write may produce. */
  maxDocBytes: number
  /** A doc with no clients is unloaded after this long. */
  idleUnloadMs: number
  /** Compact a doc's log into a snapshot after this many updates... */
  compactEveryUpdates: number
  /** ...or this many bytes of updates, whichever comes first. */
  compactEveryBytes: number
  /** Group commit window: updates arriving within it share one fsync. */
  groupCommitMs: number
  /** Send something on every idle y-websocket socket this often (clients time out after 30 s of silence). */
  keepAliveMs: number
  /** A socket whose unsent data passes this is a slow consumer and is closed. */
  maxBufferedBytes: number
  /** Folder of the built demo app served at `/`; null to serve none. */
  staticDir: string | null
  /** pino level; "silent" in tests. */
  logLevel: string
  /** This node's id (defaults to host:port). */
  nodeId: string | null
  /** Seed nodes to join, as ws(s)://host:port URLs; empty = a single node. */
  peers: string[]
  /** Shared secret that authenticates /peer links; required with peers. */
  clusterSecret: string | null
  /** The URL other nodes reach this one at (default ws://host:port). */
  advertiseUrl: string | null
  /** Replicas per doc (capped at the number of members). */
  replicationFactor: number
  /** Anti-entropy round with a random peer this often. */
  antiEntropyMs: number
  /** SWIM protocol period. */
  probeIntervalMs: number
  /** How long a W-of-N write waits for replica acks. */
  replicationTimeoutMs: number
}

export const DEFAULT_PORT = 4321

export function defaultConfig(): ServerConfig {
  return {
    host: '127.0.0.1',
    port: DEFAULT_PORT,
    dataDir: path.resolve('.murmur-data'),
    storage: 'sqlite',
    maxFrameBytes: 64 * 1024 * 1024,
    maxDocBytes: 256 * 1024 * 1024,
    idleUnloadMs: 30_000,
    compactEveryUpdates: 1000,
    compactEveryBytes: 1024 * 1024,
    groupCommitMs: 2,
    keepAliveMs: 15_000,
    maxBufferedBytes: 64 * 1024 * 1024,
    staticDir: null,
    logLevel: 'info',
    nodeId: null,
    peers: [],
    clusterSecret: null,
    advertiseUrl: null,
    replicationFactor: 3,
    antiEntropyMs: 5000,
    probeIntervalMs: 1000,
    replicationTimeoutMs: 5000,
  }
}

interface Setting {
  readonly key: keyof ServerConfig
  readonly flag: string
  readonly env: string
  readonly kind: 'string' | 'int' | 'nullable-string' | 'list'
  readonly help: string
}

/** Flag and env var of every setting; docs/operations.md is checked against this table by a test. */
export const SETTINGS: readonly Setting[] = [
  { key: 'host', flag: 'host', env: 'MURMUR_HOST', kind: 'string', help: 'interface to listen on' },
  { key: 'port', flag: 'port', env: 'MURMUR_PORT', kind: 'int', help: 'TCP port (0 = any free port)' },
  { key: 'dataDir', flag: 'data-dir', env: 'MURMUR_DATA_DIR', kind: 'string', help: 'folder of the SQLite store' },
  { key: 'storage', flag: 'storage', env: 'MURMUR_STORAGE', kind: 'string', help: 'sqlite | memory | postgres://…' },
  { key: 'maxFrameBytes', flag: 'max-frame-bytes', env: 'MURMUR_MAX_FRAME_BYTES', kind: 'int', help: 'largest WebSocket frame' },
  { key: 'maxDocBytes', flag: 'max-doc-bytes', env: 'MURMUR_MAX_DOC_BYTES', kind: 'int', help: 'largest doc' },
  { key: 'idleUnloadMs', flag: 'idle-unload-ms', env: 'MURMUR_IDLE_UNLOAD_MS', kind: 'int', help: 'unload docs idle this long' },
  { key: 'compactEveryUpdates', flag: 'compact-every-updates', env: 'MURMUR_COMPACT_EVERY_UPDATES', kind: 'int', help: 'compact after this many updates' },
  { key: 'compactEveryBytes', flag: 'compact-every-bytes', env: 'MURMUR_COMPACT_EVERY_BYTES', kind: 'int', help: 'compact after this many update bytes' },
  { key: 'groupCommitMs', flag: 'group-commit-ms', env: 'MURMUR_GROUP_COMMIT_MS', kind: 'int', help: 'group commit window' },
  { key: 'keepAliveMs', flag: 'keep-alive-ms', env: 'MURMUR_KEEP_ALIVE_MS', kind: 'int', help: 'keep-alive interval on idle sockets' },
  { key: 'maxBufferedBytes', flag: 'max-buffered-bytes', env: 'MURMUR_MAX_BUFFERED_BYTES', kind: 'int', help: 'send buffer limit per socket' },
  { key: 'staticDir', flag: 'static-dir', env: 'MURMUR_STATIC_DIR', kind: 'nullable-string', help: 'built demo app to serve at /' },
  { key: 'logLevel', flag: 'log-level', env: 'MURMUR_LOG_LEVEL', kind: 'string', help: 'fatal | error | warn | info | debug | silent' },
  { key: 'nodeId', flag: 'node-id', env: 'MURMUR_NODE_ID', kind: 'nullable-string', help: 'this node’s id in a cluster' },
  { key: 'peers', flag: 'peers', env: 'MURMUR_PEERS', kind: 'list', help: 'seed nodes, comma-separated ws://host:port' },
  { key: 'clusterSecret', flag: 'cluster-secret', env: 'MURMUR_CLUSTER_SECRET', kind: 'nullable-string', help: 'secret shared by the nodes' },
  { key: 'advertiseUrl', flag: 'advertise-url', env: 'MURMUR_ADVERTISE_URL', kind: 'nullable-string', help: 'URL other nodes reach this one at' },
  { key: 'replicationFactor', flag: 'replication-factor', env: 'MURMUR_REPLICATION_FACTOR', kind: 'int', help: 'replicas per doc' },
  { key: 'antiEntropyMs', flag: 'anti-entropy-ms', env: 'MURMUR_ANTI_ENTROPY_MS', kind: 'int', help: 'anti-entropy round interval' },
  { key: 'probeIntervalMs', flag: 'probe-interval-ms', env: 'MURMUR_PROBE_INTERVAL_MS', kind: 'int', help: 'membership probe period' },
  { key: 'replicationTimeoutMs', flag: 'replication-timeout-ms', env: 'MURMUR_REPLICATION_TIMEOUT_MS', kind: 'int', help: 'wait for W-of-N replica acks' },
]

export class ConfigError extends Error {
  override name = 'ConfigError'
}

function parseValue(setting: Setting, raw: string): string | number | string[] | null {
  if (setting.kind === 'list') return raw.split(',').map((x) => x.trim()).filter((x) => x !== '')
  if (setting.kind === 'int') {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--${setting.flag} must be a non-negative integer, got "${raw}"`)
    return n
  }
  if (setting.kind === 'nullable-string' && raw === '') return null
  return raw
}

/** Build the config from argv (without the command name) and env. Unknown flags are an error. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const options: Record<string, { type: 'string' }> = {}
  for (const s of SETTINGS) options[s.flag] = { type: 'string' }
  let values: Record<string, string | undefined>
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  const config = defaultConfig()
  const target = config as unknown as Record<string, unknown>
  for (const s of SETTINGS) {
    const raw = values[s.flag] ?? env[s.env]
    if (raw !== undefined) target[s.key] = parseValue(s, raw)
  }
  config.dataDir = path.resolve(config.dataDir)
  if (config.port > 65535) throw new ConfigError('--port must be at most 65535')
  validateCluster(config)
  return config
}

/** A cluster needs a secret, and seeds must be ws(s) URLs. */
export function validateCluster(config: ServerConfig): void {
  if (config.peers.length > 0 && (config.clusterSecret === null || config.clusterSecret === '')) {
    throw new ConfigError('--peers needs --cluster-secret (the same on every node)')
  }
  for (const p of config.peers) {
    let u: URL
    try {
      u = new URL(p)
    } catch {
      throw new ConfigError(`--peers: "${p}" is not a URL`)
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new ConfigError(`--peers: "${p}" must be a ws:// or wss:// URL`)
  }
  if (config.replicationFactor < 1) throw new ConfigError('--replication-factor must be at least 1')
}
