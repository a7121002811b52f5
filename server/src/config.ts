import path from 'node:path'

/**
 * Every setting of a Murmur node, with its default. Built in one place (`loadConfig`, config-load.ts) from
 * CLI flags, then environment variables, then these defaults. docs/operations.md lists the same table.
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
  /** A loaded doc nobody writes to for this long is kept encoded in memory (0 = keep docs decoded). */
  hibernateAfterMs: number
  /** Make an automatic version of a doc after this long without changes (0 = no automatic versions). */
  autoVersionIdleMs: number
  /** At most one automatic version per doc per this many ms. */
  autoVersionIntervalMs: number
  /** Automatic versions kept per doc (the newest). */
  autoVersionKeep: number
  /** Automatic versions older than this are removed. */
  autoVersionMaxAgeMs: number
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
  /** A connection must send its whole upgrade (or HTTP request) headers within this long. */
  upgradeTimeoutMs: number
  /** A socket must finish its protocol's handshake (`/sync` hello, `/automerge` join) within this long. */
  handshakeTimeoutMs: number
  /** Awareness (presence) states one socket may hold on one doc... */
  maxAwarenessIdsPerSocket: number
  /** ...and their bytes (JSON text) together. Past either: closed with 4431. */
  maxAwarenessBytesPerSocket: number
  /** Awareness states one doc holds; further ids are not stored nor relayed (their sockets stay open). */
  maxAwarenessIdsPerDoc: number
  /** Folder of the built demo app served at `/`; null to serve none. */
  staticDir: string | null
  /** Path of the endpoint for `@hocuspocus/provider` clients; "" turns it off. */
  hocuspocusPath: string
  /** pino level; "silent" in tests. */
  logLevel: string
  /** This node's id (defaults to host:port). */
  nodeId: string | null
  /** Let `--node-id` replace the id stored in the data dir (a node renamed on purpose). */
  renameNode: boolean
  /** Seed nodes to join, as ws(s)://host:port URLs; empty = a single node. */
  peers: string[]
  /** Shared secret that signs the tokens of /peer links; required with peers. */
  clusterSecret: string | null
  /** The secret before a rotation: link tokens signed with it are still accepted (never used to sign). */
  clusterSecretPrevious: string | null
  /** PEM certificate (chain) file: the node serves HTTPS and WSS on its port. Needs `tlsKey`. */
  tlsCert: string | null
  /** PEM private key file of `tlsCert`. */
  tlsKey: string | null
  /** PEM CA bundle that outgoing wss:// peer links verify other nodes' certificates with (default: the system's). */
  peerCa: string | null
  /** Largest frame on a peer link: larger messages (a first sync of a long history) cross in pieces of this. */
  peerFrameBytes: number
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
  /**
   * Let clients without a token read and write every doc. Off by default: a node with no token keys
   * and without this refuses to start.
   */
  anonymous: boolean
  /** HS256 shared secret for client tokens (at least 32 bytes). */
  authSecret: string | null
  /** PEM file of the public key (RSA for RS256, P-256 for ES256) that signs client tokens. */
  authPublicKey: string | null
  /** JWKS file of public keys (RS256/ES256, chosen by `kid`) that sign client tokens. */
  authJwks: string | null
  /** URL of a JWKS (RS256/ES256), cached and fetched again when a token names an unknown `kid`. */
  authJwksUrl: string | null
  /** Least time between two fetches of the JWKS URL. */
  authJwksCooldownMs: number
  /** JSON file `{ "jti": [...], "sub": [...] }` of revoked tokens, re-read when it changes. */
  authRevocations: string | null
  /** When set, tokens must carry this `iss`. */
  authIssuer: string | null
  /** When set, tokens must carry this `aud`. */
  authAudience: string | null
  /** Messages per second one WebSocket may send on average (0 = unlimited)... */
  maxMessagesPerSecond: number
  /** ...with bursts of up to this many. Past it the socket is closed with 4429. */
  messageBurst: number
  /** New WebSocket connections per second from one IP address on average (0 = unlimited)... */
  ipConnectionsPerSecond: number
  /** ...with bursts of up to this many (a reconnect storm behind one NAT). */
  ipConnectionBurst: number
  /** HTTP API requests per minute from one IP address (0 = unlimited). */
  httpRequestsPerMinute: number
  /** URL that receives a signed POST when docs change; null for no webhooks. */
  webhookUrl: string | null
  /** Key of the webhook HMAC-SHA256 signature; required with a webhook URL. */
  webhookSecret: string | null
  /** Changes to one doc within this window become one webhook event. */
  webhookDebounceMs: number
  /** First webhook retry after this long, doubling each time... */
  webhookRetryMs: number
  /** ...up to this long. Retries never stop: delivery is at least once. */
  webhookRetryMaxMs: number
  /** Folder or S3 prefix (`s3://bucket/prefix/`) of scheduled backups; null for none. */
  backupTo: string | null
  /** A scheduled backup this often (0 = none). */
  backupIntervalMs: number
  /** Scheduled backups kept at `backupTo`; older ones are removed after each new one. */
  backupKeep: number
  /** S3-compatible endpoint of backups (null: AWS itself, or `AWS_ENDPOINT_URL`). */
  s3Endpoint: string | null
  /** S3 region of backups (null: `AWS_DEFAULT_REGION`, else us-east-1). */
  s3Region: string | null
  /** S3 access key id of backups (null: the AWS SDK's default credential chain). */
  s3AccessKeyId: string | null
  /** S3 secret access key of backups. */
  s3SecretAccessKey: string | null
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
    hibernateAfterMs: 2_000,
    autoVersionIdleMs: 30_000,
    autoVersionIntervalMs: 600_000,
    autoVersionKeep: 100,
    autoVersionMaxAgeMs: 30 * 24 * 3600 * 1000,
    compactEveryUpdates: 1000,
    compactEveryBytes: 1024 * 1024,
    groupCommitMs: 2,
    keepAliveMs: 15_000,
    maxBufferedBytes: 32 * 1024 * 1024,
    upgradeTimeoutMs: 10_000,
    handshakeTimeoutMs: 10_000,
    maxAwarenessIdsPerSocket: 64,
    maxAwarenessBytesPerSocket: 64 * 1024,
    maxAwarenessIdsPerDoc: 1000,
    staticDir: null,
    hocuspocusPath: '/hocuspocus',
    logLevel: 'info',
    nodeId: null,
    renameNode: false,
    peers: [],
    clusterSecret: null,
    clusterSecretPrevious: null,
    tlsCert: null,
    tlsKey: null,
    peerCa: null,
    peerFrameBytes: 1024 * 1024,
    advertiseUrl: null,
    replicationFactor: 3,
    antiEntropyMs: 5000,
    probeIntervalMs: 1000,
    replicationTimeoutMs: 5000,
    anonymous: false,
    authSecret: null,
    authPublicKey: null,
    authJwks: null,
    authJwksUrl: null,
    authJwksCooldownMs: 30_000,
    authRevocations: null,
    authIssuer: null,
    authAudience: null,
    maxMessagesPerSecond: 2000,
    messageBurst: 50_000,
    ipConnectionsPerSecond: 50,
    ipConnectionBurst: 1000,
    httpRequestsPerMinute: 600,
    webhookUrl: null,
    webhookSecret: null,
    webhookDebounceMs: 1000,
    webhookRetryMs: 1000,
    webhookRetryMaxMs: 600_000,
    backupTo: null,
    backupIntervalMs: 0,
    backupKeep: 7,
    s3Endpoint: null,
    s3Region: null,
    s3AccessKeyId: null,
    s3SecretAccessKey: null,
  }
}

export interface Setting {
  readonly key: keyof ServerConfig
  readonly flag: string
  readonly env: string
  readonly kind: 'string' | 'int' | 'nullable-string' | 'list' | 'boolean'
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
  { key: 'idleUnloadMs', flag: 'idle-unload-ms', env: 'MURMUR_IDLE_UNLOAD_MS', kind: 'int', help: 'unload docs nobody used (no client, no API request) for this long' },
  { key: 'hibernateAfterMs', flag: 'hibernate-after-ms', env: 'MURMUR_HIBERNATE_AFTER_MS', kind: 'int', help: 'keep docs nobody writes to for this long encoded in memory (doubles each time a write wakes one; 0 = never)' },
  { key: 'autoVersionIdleMs', flag: 'auto-version-idle-ms', env: 'MURMUR_AUTO_VERSION_IDLE_MS', kind: 'int', help: 'make an automatic version of a doc after this long without changes (0 = no automatic versions)' },
  { key: 'autoVersionIntervalMs', flag: 'auto-version-interval-ms', env: 'MURMUR_AUTO_VERSION_INTERVAL_MS', kind: 'int', help: 'at most one automatic version per doc per this many ms' },
  { key: 'autoVersionKeep', flag: 'auto-version-keep', env: 'MURMUR_AUTO_VERSION_KEEP', kind: 'int', help: 'automatic versions kept per doc (the newest; named versions are never removed)' },
  { key: 'autoVersionMaxAgeMs', flag: 'auto-version-max-age-ms', env: 'MURMUR_AUTO_VERSION_MAX_AGE_MS', kind: 'int', help: 'automatic versions older than this are removed' },
  { key: 'compactEveryUpdates', flag: 'compact-every-updates', env: 'MURMUR_COMPACT_EVERY_UPDATES', kind: 'int', help: 'compact after this many updates' },
  { key: 'compactEveryBytes', flag: 'compact-every-bytes', env: 'MURMUR_COMPACT_EVERY_BYTES', kind: 'int', help: 'compact after this many update bytes' },
  { key: 'groupCommitMs', flag: 'group-commit-ms', env: 'MURMUR_GROUP_COMMIT_MS', kind: 'int', help: 'group commit window' },
  { key: 'keepAliveMs', flag: 'keep-alive-ms', env: 'MURMUR_KEEP_ALIVE_MS', kind: 'int', help: 'keep-alive interval on idle sockets' },
  { key: 'maxBufferedBytes', flag: 'max-buffered-bytes', env: 'MURMUR_MAX_BUFFERED_BYTES', kind: 'int', help: 'send buffer limit per socket' },
  { key: 'upgradeTimeoutMs', flag: 'upgrade-timeout-ms', env: 'MURMUR_UPGRADE_TIMEOUT_MS', kind: 'int', help: 'close connections whose upgrade/request headers take longer' },
  { key: 'handshakeTimeoutMs', flag: 'handshake-timeout-ms', env: 'MURMUR_HANDSHAKE_TIMEOUT_MS', kind: 'int', help: 'close sockets without a hello/join by then (4407)' },
  { key: 'maxAwarenessIdsPerSocket', flag: 'max-awareness-ids-per-socket', env: 'MURMUR_MAX_AWARENESS_IDS_PER_SOCKET', kind: 'int', help: 'presence states per socket on one doc (4431)' },
  { key: 'maxAwarenessBytesPerSocket', flag: 'max-awareness-bytes-per-socket', env: 'MURMUR_MAX_AWARENESS_BYTES_PER_SOCKET', kind: 'int', help: 'presence bytes per socket on one doc (4431)' },
  { key: 'maxAwarenessIdsPerDoc', flag: 'max-awareness-ids-per-doc', env: 'MURMUR_MAX_AWARENESS_IDS_PER_DOC', kind: 'int', help: 'presence states per doc; more are dropped' },
  { key: 'staticDir', flag: 'static-dir', env: 'MURMUR_STATIC_DIR', kind: 'nullable-string', help: 'built demo app to serve at /' },
  { key: 'hocuspocusPath', flag: 'hocuspocus-path', env: 'MURMUR_HOCUSPOCUS_PATH', kind: 'string', help: 'path of the Hocuspocus-compatible endpoint ("" = off)' },
  { key: 'logLevel', flag: 'log-level', env: 'MURMUR_LOG_LEVEL', kind: 'string', help: 'fatal | error | warn | info | debug | silent' },
  { key: 'nodeId', flag: 'node-id', env: 'MURMUR_NODE_ID', kind: 'nullable-string', help: 'this node’s id in a cluster' },
  { key: 'renameNode', flag: 'rename-node', env: 'MURMUR_RENAME_NODE', kind: 'boolean', help: 'let --node-id replace the id stored in the data dir' },
  { key: 'peers', flag: 'peers', env: 'MURMUR_PEERS', kind: 'list', help: 'seed nodes, comma-separated ws://host:port' },
  { key: 'clusterSecret', flag: 'cluster-secret', env: 'MURMUR_CLUSTER_SECRET', kind: 'nullable-string', help: 'secret shared by the nodes (signs peer link tokens)' },
  { key: 'clusterSecretPrevious', flag: 'cluster-secret-previous', env: 'MURMUR_CLUSTER_SECRET_PREVIOUS', kind: 'nullable-string', help: 'the secret being rotated out: still accepted, never used to sign' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'MURMUR_TLS_CERT', kind: 'nullable-string', help: 'PEM certificate file: serve HTTPS/WSS (needs --tls-key)' },
  { key: 'tlsKey', flag: 'tls-key', env: 'MURMUR_TLS_KEY', kind: 'nullable-string', help: 'PEM private key file of --tls-cert' },
  { key: 'peerCa', flag: 'peer-ca', env: 'MURMUR_PEER_CA', kind: 'nullable-string', help: 'PEM CA bundle that wss:// peer links trust (default: the system CAs)' },
  { key: 'peerFrameBytes', flag: 'peer-frame-bytes', env: 'MURMUR_PEER_FRAME_BYTES', kind: 'int', help: 'largest frame on a peer link; larger messages go in pieces' },
  { key: 'advertiseUrl', flag: 'advertise-url', env: 'MURMUR_ADVERTISE_URL', kind: 'nullable-string', help: 'URL other nodes reach this one at' },
  { key: 'replicationFactor', flag: 'replication-factor', env: 'MURMUR_REPLICATION_FACTOR', kind: 'int', help: 'replicas per doc' },
  { key: 'antiEntropyMs', flag: 'anti-entropy-ms', env: 'MURMUR_ANTI_ENTROPY_MS', kind: 'int', help: 'anti-entropy round interval' },
  { key: 'probeIntervalMs', flag: 'probe-interval-ms', env: 'MURMUR_PROBE_INTERVAL_MS', kind: 'int', help: 'membership probe period' },
  { key: 'replicationTimeoutMs', flag: 'replication-timeout-ms', env: 'MURMUR_REPLICATION_TIMEOUT_MS', kind: 'int', help: 'wait for W-of-N replica acks' },
  { key: 'anonymous', flag: 'anonymous', env: 'MURMUR_ANONYMOUS', kind: 'boolean', help: 'clients without a token may read and write every doc' },
  { key: 'authSecret', flag: 'auth-secret', env: 'MURMUR_AUTH_SECRET', kind: 'nullable-string', help: 'HS256 secret of client tokens' },
  { key: 'authPublicKey', flag: 'auth-public-key', env: 'MURMUR_AUTH_PUBLIC_KEY', kind: 'nullable-string', help: 'PEM public key file (RS256/ES256)' },
  { key: 'authJwks', flag: 'auth-jwks', env: 'MURMUR_AUTH_JWKS', kind: 'nullable-string', help: 'JWKS file of public keys (RS256/ES256)' },
  { key: 'authJwksUrl', flag: 'auth-jwks-url', env: 'MURMUR_AUTH_JWKS_URL', kind: 'nullable-string', help: 'URL of a JWKS (cached; fetched again on an unknown kid)' },
  { key: 'authJwksCooldownMs', flag: 'auth-jwks-cooldown-ms', env: 'MURMUR_AUTH_JWKS_COOLDOWN_MS', kind: 'int', help: 'least time between two JWKS URL fetches' },
  { key: 'authRevocations', flag: 'auth-revocations', env: 'MURMUR_AUTH_REVOCATIONS', kind: 'nullable-string', help: 'JSON file of revoked token ids and subjects (re-read on change)' },
  { key: 'authIssuer', flag: 'auth-issuer', env: 'MURMUR_AUTH_ISSUER', kind: 'nullable-string', help: 'required iss of tokens' },
  { key: 'authAudience', flag: 'auth-audience', env: 'MURMUR_AUTH_AUDIENCE', kind: 'nullable-string', help: 'required aud of tokens' },
  { key: 'maxMessagesPerSecond', flag: 'max-messages-per-second', env: 'MURMUR_MAX_MESSAGES_PER_SECOND', kind: 'int', help: 'messages/s per socket (0 = unlimited)' },
  { key: 'messageBurst', flag: 'message-burst', env: 'MURMUR_MESSAGE_BURST', kind: 'int', help: 'message burst per socket' },
  { key: 'ipConnectionsPerSecond', flag: 'ip-connections-per-second', env: 'MURMUR_IP_CONNECTIONS_PER_SECOND', kind: 'int', help: 'new sockets/s per IP (0 = unlimited)' },
  { key: 'ipConnectionBurst', flag: 'ip-connection-burst', env: 'MURMUR_IP_CONNECTION_BURST', kind: 'int', help: 'new socket burst per IP' },
  { key: 'httpRequestsPerMinute', flag: 'http-requests-per-minute', env: 'MURMUR_HTTP_REQUESTS_PER_MINUTE', kind: 'int', help: 'HTTP API requests/min per IP (0 = unlimited)' },
  { key: 'webhookUrl', flag: 'webhook-url', env: 'MURMUR_WEBHOOK_URL', kind: 'nullable-string', help: 'POST signed change events here' },
  { key: 'webhookSecret', flag: 'webhook-secret', env: 'MURMUR_WEBHOOK_SECRET', kind: 'nullable-string', help: 'HMAC key of webhook signatures' },
  { key: 'webhookDebounceMs', flag: 'webhook-debounce-ms', env: 'MURMUR_WEBHOOK_DEBOUNCE_MS', kind: 'int', help: 'one event per doc per window' },
  { key: 'webhookRetryMs', flag: 'webhook-retry-ms', env: 'MURMUR_WEBHOOK_RETRY_MS', kind: 'int', help: 'first webhook retry delay' },
  { key: 'webhookRetryMaxMs', flag: 'webhook-retry-max-ms', env: 'MURMUR_WEBHOOK_RETRY_MAX_MS', kind: 'int', help: 'longest webhook retry delay' },
  { key: 'backupTo', flag: 'backup-to', env: 'MURMUR_BACKUP_TO', kind: 'nullable-string', help: 'folder/ or s3://bucket/prefix/ of scheduled backups' },
  { key: 'backupIntervalMs', flag: 'backup-interval-ms', env: 'MURMUR_BACKUP_INTERVAL_MS', kind: 'int', help: 'a scheduled backup this often (0 = none)' },
  { key: 'backupKeep', flag: 'backup-keep', env: 'MURMUR_BACKUP_KEEP', kind: 'int', help: 'scheduled backups kept; older ones are removed' },
  { key: 's3Endpoint', flag: 's3-endpoint', env: 'AWS_ENDPOINT_URL_S3', kind: 'nullable-string', help: 'S3-compatible endpoint of backups' },
  { key: 's3Region', flag: 's3-region', env: 'AWS_REGION', kind: 'nullable-string', help: 'S3 region of backups' },
  { key: 's3AccessKeyId', flag: 's3-access-key-id', env: 'AWS_ACCESS_KEY_ID', kind: 'nullable-string', help: 'S3 access key id of backups' },
  { key: 's3SecretAccessKey', flag: 's3-secret-access-key', env: 'AWS_SECRET_ACCESS_KEY', kind: 'nullable-string', help: 'S3 secret key of backups' },
]

export class ConfigError extends Error {
  override name = 'ConfigError'
}
