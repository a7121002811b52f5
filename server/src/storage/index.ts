import { join } from 'node:path'
import { MemoryStorage } from './memory.js'
import { PostgresStorage } from './postgres.js'
import { SqliteStorage } from './sqlite.js'
import type { Storage } from './storage.js'
import type { CommitTuning } from './group-commit.js'

export type {
  AppendOptions,
  Author,
  ChangeRecord,
  DocArchive,
  DocHistory,
  DocLog,
  DocKey,
  HistoryOptions,
  ListOptions,
  LogEntryInfo,
  Outbox,
  OutboxInput,
  OutboxMessage,
  Storage,
  StorageStats,
  StoredDoc,
  StorageLifecycle,
  Tombstone,
  Tombstones,
  StoredVersion,
  VersionInfo,
  VersionStore,
} from './storage.js'
export { VersionKind } from './storage.js'
export { crc32 } from './crc32.js'
export {
  BACKGROUND_COMMIT_MS,
  GroupCommit,
  storageError,
  type CommitBatch,
  type CommitTuning,
  type GroupCommitOptions,
  type LogEntry,
} from './group-commit.js'
export { MemoryDisk, MemoryStorage, type MemoryDocRecord, type MemoryLogEntry, type MemoryStorageOptions } from './memory.js'
export { PostgresStorage, type PostgresStorageOptions } from './postgres.js'
export { SqliteStorage, type SqliteStorageOptions } from './sqlite.js'

/** The file the SQLite backend uses inside the data directory. */
export const SQLITE_FILE = 'murmur.db'

/** Tuning shared by the durable backends; the memory one commits on the next tick regardless. */
export type OpenStorageOptions = CommitTuning

/**
 * Opens the backend a config names: "sqlite" (the default, `<dataDir>/murmur.db`), "memory" (tests
 * only: nothing survives the process), or a `postgres://` / `postgresql://` connection URL, optionally
 * with `?schema=<name>` for the schema of the tables.
 */
export async function openStorage(spec: string, dataDir: string, options: OpenStorageOptions = {}): Promise<Storage> {
  const trimmed = spec.trim()
  if (trimmed === '' || trimmed === 'sqlite') return SqliteStorage.open({ path: join(dataDir, SQLITE_FILE), ...options })
  if (trimmed === 'memory') return new MemoryStorage()
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    // `?schema=name` picks the schema that holds the tables (default "murmur"); it is ours, not libpq's.
    const url = new URL(trimmed)
    const schema = url.searchParams.get('schema') ?? undefined
    url.searchParams.delete('schema')
    return PostgresStorage.open({ connectionString: url.toString(), schema, ...options })
  }
  throw new RangeError(`unknown storage "${spec}": expected "sqlite", "memory" or a postgres:// URL`)
}
