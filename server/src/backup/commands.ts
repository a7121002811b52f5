import { ConfigError, type ServerConfig } from '../config.js'
import { parseSettings, settingsFor } from '../config-load.js'
import { lockStore } from '../ownership/store-lock.js'
import { BackupError } from './archive.js'
import { backupStore, restoreStore } from './backup.js'
import { openLocation, type S3Options } from './location.js'

/** The node settings `murmur backup` and `murmur restore` take: where the store is, how to reach S3. */
const KEYS = ['dataDir', 'storage', 's3Endpoint', 's3Region', 's3AccessKeyId', 's3SecretAccessKey'] as const

export const BACKUP_USAGE = `usage: murmur backup --to <file | folder/ | s3://bucket/key | s3://bucket/prefix/> [flags]
       murmur restore --from <file | s3://bucket/key> [flags]

  backup   copies the store of a node (running or not) consistently; every write acknowledged before
           it started is in the backup
  restore  fills an EMPTY store from a backup (stop the node first); refuses a store holding anything,
           or one a node holds; holds the store's lock meanwhile, so no node starts on it

Flags (each also read from its environment variable):
${settingsFor(KEYS).map((s) => `  --${s.flag.padEnd(24)} ${s.env.padEnd(30)} ${s.help}`).join('\n')}
S3 credentials may also come from the AWS SDK's usual places (AWS_SESSION_TOKEN, AWS_PROFILE, ...).
`

export function s3Options(config: ServerConfig): S3Options {
  return {
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    accessKeyId: config.s3AccessKeyId,
    secretAccessKey: config.s3SecretAccessKey,
  }
}

/** One line for the operator: what failed and, where it helps, what to do. */
function failure(command: string, err: unknown): string {
  const message = err instanceof BackupError || err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err)
  return `murmur ${command}: ${message.split('\n')[0]}\n`
}

/**
 * `murmur backup` and `murmur restore`: 0 on success, 1 when the work failed, 2 for a wrong command line.
 * Every failure is one line on stderr.
 */
export async function runBackupCommand(command: 'backup' | 'restore', argv: string[]): Promise<number> {
  const flag = command === 'backup' ? 'to' : 'from'
  let config: ServerConfig
  let where: string | undefined
  try {
    const parsed = parseSettings(argv, settingsFor(KEYS), { [flag]: { type: 'string' } })
    config = parsed.config
    where = parsed.extra[flag]
    if (where === undefined || where === '') throw new ConfigError(`--${flag} is required`)
  } catch (err) {
    process.stderr.write(`${failure(command, err)}\n${BACKUP_USAGE}`)
    return 2
  }
  // Should the work stall with nothing left to wait on, the process ends on its own: not as a success.
  process.exitCode = 1
  try {
    const location = await openLocation(where, s3Options(config))
    const store = { storage: config.storage, dataDir: config.dataDir }
    if (command === 'backup') {
      const result = await backupStore(store, location)
      process.stdout.write(`backup of ${result.header.store} store written to ${result.location} (${result.bytes} bytes, ${result.seconds.toFixed(2)} s)\n`)
    } else {
      // The store's lock, as a node takes it: refused while a node runs on it, and no node starts meanwhile.
      const lock = await lockStore(config.storage, config.dataDir, null, () => undefined, 'restore')
      const header = await restoreStore(location, store).finally(() => lock?.release())
      process.stdout.write(`restored the ${header.store} backup of ${header.createdAt} from ${location.description}\n`)
    }
    return 0
  } catch (err) {
    process.stderr.write(failure(command, err))
    return 1
  }
}
