/*
 * Reading a node's config: flags, then environment variables, over the defaults (`SETTINGS` in
 * config.ts lists them), and the checks a config must pass before a node starts.
 */
import { parseArgs } from 'node:util'
import path from 'node:path'
import { ConfigError, SETTINGS, defaultConfig, type ServerConfig, type Setting } from './config.js'

function parseValue(setting: Setting, raw: string | boolean): string | number | string[] | boolean | null {
  if (setting.kind === 'boolean') {
    if (typeof raw === 'boolean') return raw
    const v = raw.trim().toLowerCase()
    if (v === '1' || v === 'true' || v === 'yes') return true
    if (v === '' || v === '0' || v === 'false' || v === 'no') return false
    throw new ConfigError(`${setting.env} must be true or false, got "${raw}"`)
  }
  if (typeof raw === 'boolean') throw new ConfigError(`--${setting.flag} needs a value`)
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
  const { config } = parseSettings(argv, SETTINGS, {}, env)
  if (config.port > 65535) throw new ConfigError('--port must be at most 65535')
  validateHocuspocusPath(config.hocuspocusPath)
  validateOperatorFlags(config)
  validateCluster(config)
  validateSecurity(config)
  validateBackups(config)
  return config
}

/**
 * Reads the given settings (and `extra` string flags of a command) from argv, then env, over the
 * defaults. For commands other than `serve`, which take a few of the node's settings.
 */
export function parseSettings(
  argv: string[],
  settings: readonly Setting[],
  extra: Record<string, { type: 'string' }>,
  env: NodeJS.ProcessEnv = process.env,
): { config: ServerConfig; extra: Record<string, string | undefined> } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { ...extra }
  for (const s of settings) options[s.flag] = { type: s.kind === 'boolean' ? 'boolean' : 'string' }
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>
  } catch (err) {
    throw argvError(err)
  }
  const config = defaultConfig()
  const target = config as unknown as Record<string, unknown>
  for (const s of settings) {
    const raw = values[s.flag] ?? env[s.env]
    if (raw !== undefined) target[s.key] = parseValue(s, raw)
  }
  config.dataDir = path.resolve(config.dataDir)
  const extras: Record<string, string | undefined> = {}
  for (const flag of Object.keys(extra)) extras[flag] = values[flag] as string | undefined
  return { config, extra: extras }
}

/** The settings named by `keys`, for a command that takes only those. */
export function settingsFor(keys: readonly (keyof ServerConfig)[]): Setting[] {
  return SETTINGS.filter((s) => keys.includes(s.key))
}

/** Scheduled backups need a place and at least one kept. */
export function validateBackups(config: ServerConfig): void {
  if (config.backupIntervalMs > 0 && (config.backupTo === null || config.backupTo === '')) {
    throw new ConfigError('--backup-interval-ms needs --backup-to (a folder/ or s3://bucket/prefix/)')
  }
  if (config.backupIntervalMs > 0 && config.backupKeep < 1) throw new ConfigError('--backup-keep must be at least 1')
  if (config.backupIntervalMs > 0 && config.storage.trim() === 'memory') throw new ConfigError('--backup-interval-ms: the memory store keeps nothing to back up')
}

/** `parseArgs` errors, as one line that names the flag. */
function argvError(err: unknown): ConfigError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : ''
  const message = (err as Error).message
  const flag = /'(-[^']*)'/u.exec(message)?.[1] ?? /"(-[^"]*)"/u.exec(message)?.[1]
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new ConfigError(`unknown flag ${flag ?? ''}; run "murmur serve --help" for the flags`)
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return new ConfigError(`${flag?.split(' ')[0] ?? 'a flag'} needs a value; run "murmur serve --help" for the flags`)
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new ConfigError(`unexpected argument ${flag ?? ''}; flags are --name value, see "murmur serve --help"`.replace(/ ;/u, ';'))
  return new ConfigError(message.split('\n')[0] ?? message)
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Flags whose mistakes would otherwise surface later as a stack trace: the log level, the storage URL. */
export function validateOperatorFlags(config: ServerConfig): void {
  if (!LOG_LEVELS.includes(config.logLevel)) throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got "${config.logLevel}"`)
  const storage = config.storage.trim()
  if (storage === '' || storage === 'sqlite' || storage === 'memory') return
  if (!/^postgres(ql)?:\/\//iu.test(storage)) throw new ConfigError(`--storage must be sqlite, memory or a postgres:// URL; got "${storage.slice(0, 80)}"`)
  let url: URL
  try {
    url = new URL(storage)
  } catch {
    throw new ConfigError('--storage is not a valid URL; expected postgres://user@host:port/db[?schema=name]')
  }
  const schema = url.searchParams.get('schema')
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/u.test(schema)) throw new ConfigError(`--storage: schema "${schema.slice(0, 80)}" must be lower-case letters, digits and _`)
}

/**
 * A node must be told how clients authenticate: token keys, or `--anonymous` explicitly. Webhooks are
 * always signed.
 */
export function validateSecurity(config: ServerConfig): void {
  const keys = [config.authSecret, config.authPublicKey, config.authJwks, config.authJwksUrl].some((k) => k !== null && k !== '')
  if (!keys && !config.anonymous) {
    throw new ConfigError(
      'no authentication configured: give --auth-secret, --auth-public-key, --auth-jwks or --auth-jwks-url (see docs/operations.md), ' +
        'or --anonymous to let anyone read and write every doc (development only)',
    )
  }
  if (config.webhookUrl !== null) {
    let u: URL
    try {
      u = new URL(config.webhookUrl)
    } catch {
      throw new ConfigError(`--webhook-url: "${config.webhookUrl}" is not a URL`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError('--webhook-url must be an http:// or https:// URL')
    if (config.webhookSecret === null || config.webhookSecret === '') throw new ConfigError('--webhook-url needs --webhook-secret (requests are signed with it)')
  }
  if (config.messageBurst < 1 && config.maxMessagesPerSecond > 0) throw new ConfigError('--message-burst must be at least 1')
  if (config.ipConnectionBurst < 1 && config.ipConnectionsPerSecond > 0) throw new ConfigError('--ip-connection-burst must be at least 1')
  if (config.webhookRetryMs < 1) throw new ConfigError('--webhook-retry-ms must be at least 1')
}

/** The endpoints every node serves; the Hocuspocus endpoint may not take their place. */
const RESERVED_PATHS = ['/sync', '/yjs', '/automerge', '/peer', '/v1', '/metrics', '/health']

/** A path of its own, beginning with "/", or "" (off). */
export function validateHocuspocusPath(p: string): void {
  if (p === '') return
  if (!p.startsWith('/') || p.length < 2 || /[\s?#]/u.test(p)) throw new ConfigError(`--hocuspocus-path must be a path like /hocuspocus, got "${p}"`)
  const clash = RESERVED_PATHS.find((r) => p === r || p.startsWith(`${r}/`))
  if (clash !== undefined) throw new ConfigError(`--hocuspocus-path may not be under ${clash}, which another endpoint serves`)
}

/** A cluster needs a secret, seeds must be ws(s) URLs, TLS needs both its certificate and its key. */
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
  if (config.peerFrameBytes < 1024) throw new ConfigError('--peer-frame-bytes must be at least 1024')
  if (config.peerFrameBytes > config.maxFrameBytes) throw new ConfigError('--peer-frame-bytes may not exceed --max-frame-bytes (the largest frame a node accepts)')
  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    throw new ConfigError(config.tlsCert === null ? '--tls-key needs --tls-cert (the certificate it belongs to)' : '--tls-cert needs --tls-key (its private key)')
  }
  if (config.clusterSecretPrevious !== null && (config.clusterSecret === null || config.clusterSecret === '')) {
    throw new ConfigError('--cluster-secret-previous needs --cluster-secret (the new secret, which signs)')
  }
}
