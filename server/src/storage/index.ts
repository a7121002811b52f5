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
  Hint,
  HintStore,
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
  TombstonedDoc,
  Tombstones,
  StoredVersion,
  VersionIdEntry,
  VersionInfo,
  VersionStore,
} from './storage.js'
export { VersionKind } from '@murmur/shared'
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
export { PostgresStorage, SCHEMA_NAME, type PostgresStorageOptions } from './postgres.js'
export { withDefaultUser } from './postgres-connection.js'
export { SqliteStorage, type SqliteStorageOptions } from './sqlite.js'

/**
 * A `postgres://` / `postgresql://` storage spec as a connection string and the schema of the tables
 * (`?schema=name`, default "murmur": the parameter is ours, not libpq's); null for any other spec.
 */
export function postgresTarget(spec: string): { connectionString: string; schema: string } | null {
  if (!/^postgres(ql)?:\/\//i.test(spec.trim())) return null
  const url = new URL(spec.trim())
  const schema = url.searchParams.get('schema') ?? 'murmur'
  url.searchParams.delete('schema')
  return { connectionString: url.toString(), schema }
}

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
  const postgres = postgresTarget(trimmed)
  if (postgres) return PostgresStorage.open({ ...postgres, ...options })
  throw new RangeError(`unknown storage "${spec}": expected "sqlite", "memory" or a postgres:// URL`)
}
