import type { Database as Db, Statement } from 'better-sqlite3'
import { asBytes, checkLog, type CheckedLog, type StoredEntry } from './log-check.js'
import type { DocKey } from './storage.js'

/** Bumped when the schema changes; a database from a newer version is refused rather than misread. */
export const SCHEMA_VERSION = 5

/*
 * `snapshots` has one row per doc that ever had anything stored. `last_seq` is the doc's high-water mark:
 * it only grows, so seqs are never reused, even after compaction or torn-tail recovery deleted the rows
 * that carried them.
 *
 * `updates` is clustered on (engine, doc_id, seq) (WITHOUT ROWID): loading a doc and deleting what a
 * compaction covers are both one contiguous range of the primary key.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  engine     TEXT    NOT NULL,
  doc_id     TEXT    NOT NULL,
  snapshot   BLOB,
  up_to_seq  INTEGER NOT NULL DEFAULT 0,
  last_seq   INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (engine, doc_id)
);
CREATE TABLE IF NOT EXISTS updates (
  engine TEXT    NOT NULL,
  doc_id TEXT    NOT NULL,
  seq    INTEGER NOT NULL,
  data   BLOB    NOT NULL,
  crc32  INTEGER NOT NULL,
  PRIMARY KEY (engine, doc_id, seq)
) WITHOUT ROWID;
`

/**
 * Version 2: commit times on log entries and snapshots (history), tombstones of deleted docs, and the
 * webhook outbox. Applied to version-1 files and to new ones alike, so both end with the same schema.
 */
export const MIGRATE_TO_2 = `
ALTER TABLE updates ADD COLUMN at INTEGER;
ALTER TABLE snapshots ADD COLUMN snapshot_at INTEGER;
CREATE TABLE tombstones (
  engine     TEXT    NOT NULL,
  doc_id     TEXT    NOT NULL,
  deleted_at INTEGER NOT NULL,
  PRIMARY KEY (engine, doc_id)
) WITHOUT ROWID;
CREATE TABLE outbox (
  id         TEXT    PRIMARY KEY,
  body       TEXT    NOT NULL,
  due_at     INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX outbox_due ON outbox (due_at, id);
`

/**
 * Version 3: versions of docs (their whole state, kept whatever compaction does) and one change record
 * per stored update (who it came from). Existing rows stay as they are; their updates have no record.
 */
export const MIGRATE_TO_3 = `
CREATE TABLE versions (
  engine     TEXT    NOT NULL,
  doc_id     TEXT    NOT NULL,
  id         TEXT    NOT NULL,
  name       TEXT,
  kind       TEXT    NOT NULL,
  principal  TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  state      BLOB    NOT NULL,
  PRIMARY KEY (engine, doc_id, id)
) WITHOUT ROWID;
CREATE TABLE changes (
  engine    TEXT    NOT NULL,
  doc_id    TEXT    NOT NULL,
  seq       INTEGER NOT NULL,
  principal TEXT,
  at        INTEGER NOT NULL,
  ids       TEXT,
  PRIMARY KEY (engine, doc_id, seq)
) WITHOUT ROWID;
`

/**
 * Version 4: hints of hinted handoff (a cluster node that may lack changes of a doc), so that they
 * survive a restart of the node holding them.
 */
export const MIGRATE_TO_4 = `
CREATE TABLE hints (
  peer   TEXT NOT NULL,
  engine TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  PRIMARY KEY (peer, engine, doc_id)
) WITHOUT ROWID;
`

/**
 * Version 5: the trace contexts of the updates an outbox message stands for (so its delivery joins
 * their trace). Messages queued before it have none.
 */
export const MIGRATE_TO_5 = `
ALTER TABLE outbox ADD COLUMN trace TEXT;
`

export interface SnapshotRow {
  snapshot: Buffer | null
  up_to_seq: number
}
export interface UpdateRow {
  seq: number
  data: Buffer
  crc32: number
}
export type KeyArgs = [engine: string, docId: string]

/** The statements a load needs; both connections (reader and writer) prepare them. */
export interface LogReads {
  readonly snapshot: Statement<KeyArgs, SnapshotRow>
  readonly updates: Statement<[string, string, number], UpdateRow>
}

export function prepareLogReads(db: Db): LogReads {
  return {
    snapshot: db.prepare<KeyArgs, SnapshotRow>('SELECT snapshot, up_to_seq FROM snapshots WHERE engine = ? AND doc_id = ?'),
    updates: db.prepare<[string, string, number], UpdateRow>(
      'SELECT seq, data, crc32 FROM updates WHERE engine = ? AND doc_id = ? AND seq > ? ORDER BY seq',
    ),
  }
}

/** A doc as one read found it: its snapshot and the checked log entries after it. */
export interface ReadDoc {
  readonly snapshot: Uint8Array | null
  readonly upToSeq: number
  readonly log: CheckedLog
}

/** Reads a doc's snapshot and log; null when it has no row. Call inside a transaction so the two agree. */
export function readDoc(sql: LogReads, key: DocKey): ReadDoc | null {
  const row = sql.snapshot.get(key.engine, key.docId)
  if (!row) return null
  const rows = sql.updates.all(key.engine, key.docId, row.up_to_seq)
  const log = checkLog(rows.map((r): StoredEntry => ({ seq: r.seq, data: asBytes(r.data), crc: r.crc32 })))
  return { snapshot: row.snapshot && asBytes(row.snapshot), upToSeq: row.up_to_seq, log }
}

/**
 * SQLite's page cache per connection, in KiB when negative (its default is 2 MB). Live docs stay in the
 * node's memory, so pages a connection cached would mostly be a second copy of docs written lately.
 */
export const PAGE_CACHE_SIZE = -512
