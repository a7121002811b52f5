import { hintsSchemaSql } from './postgres-hints.js'
import { outboxSchemaSql } from './postgres-outbox.js'
import { versionsSchemaSql } from './postgres-versions.js'

/*
 * Same layout as SQLite: `snapshots` holds one row per doc with its high-water mark `last_seq`, `updates`
 * is keyed (engine, doc_id, seq) so a load and a compaction are one range of the primary key. Ids use the
 * "C" collation so they order by bytes, as in SQLite, whatever the database's locale.
 */
export function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.snapshots (
  engine     text COLLATE "C" NOT NULL,
  doc_id     text COLLATE "C" NOT NULL,
  snapshot   bytea,
  up_to_seq  bigint NOT NULL DEFAULT 0,
  last_seq   bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (engine, doc_id)
);
CREATE TABLE IF NOT EXISTS ${s}.updates (
  engine text COLLATE "C" NOT NULL,
  doc_id text COLLATE "C" NOT NULL,
  seq    bigint NOT NULL,
  data   bytea NOT NULL,
  crc32  integer NOT NULL,
  PRIMARY KEY (engine, doc_id, seq)
);
ALTER TABLE ${s}.updates ADD COLUMN IF NOT EXISTS at bigint;
ALTER TABLE ${s}.snapshots ADD COLUMN IF NOT EXISTS snapshot_at bigint;
CREATE TABLE IF NOT EXISTS ${s}.tombstones (
  engine     text COLLATE "C" NOT NULL,
  doc_id     text COLLATE "C" NOT NULL,
  deleted_at bigint NOT NULL,
  PRIMARY KEY (engine, doc_id)
);
${outboxSchemaSql(s)}${versionsSchemaSql(s)}${hintsSchemaSql(s)}`
}
