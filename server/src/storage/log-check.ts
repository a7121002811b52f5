/*
 * Checking a doc's log as it is read back, and the load result made of it (and the kind of a version
 * tombstone row). Kept apart from log.ts, which needs @murmur/shared, so that the SQLite writer thread can
 * check a log without loading the engines.
 */
import { crc32 } from './crc32.js'
import type { StoredDoc } from './storage.js'

/** The kind a SQL backend gives the row a deleted version leaves (a tombstone, never read as a version). */
export const DELETED_VERSION_KIND = 'deleted'

/** A log entry as a backend reads it back. */
export interface StoredEntry {
  readonly seq: number
  readonly data: Uint8Array
  readonly crc: number
}

/** What a load found in a doc's log after checking every entry's checksum. */
export interface CheckedLog {
  readonly updates: Uint8Array[]
  /** Seq of the last good entry, or 0 when there is none. */
  readonly lastGoodSeq: number
  readonly updateBytes: number
  /** Seq of the first corrupt entry; it and everything after it must be deleted. Null when all are good. */
  readonly firstCorruptSeq: number | null
  /** Highest seq read; deleting only up to it keeps appends committed after the read. */
  readonly lastReadSeq: number
  readonly droppedCorrupt: number
}

/**
 * Checks entries (in seq order) against their checksums. The first mismatch marks a torn tail: it and
 * every later entry are dropped, since a log is only trustworthy up to its first damage.
 */
export function checkLog(entries: Iterable<StoredEntry>): CheckedLog {
  const updates: Uint8Array[] = []
  let lastGoodSeq = 0
  let updateBytes = 0
  let firstCorruptSeq: number | null = null
  let lastReadSeq = 0
  let droppedCorrupt = 0
  for (const entry of entries) {
    lastReadSeq = entry.seq
    if (firstCorruptSeq === null && crc32(entry.data) === entry.crc >>> 0) {
      updates.push(entry.data)
      lastGoodSeq = entry.seq
      updateBytes += entry.data.length
      continue
    }
    firstCorruptSeq ??= entry.seq
    droppedCorrupt++
  }
  return { updates, lastGoodSeq, updateBytes, firstCorruptSeq, lastReadSeq, droppedCorrupt }
}

/** The load result for a doc; null when nothing is stored and nothing had to be dropped. */
export function toStoredDoc(snapshot: Uint8Array | null, snapshotSeq: number, log: CheckedLog): StoredDoc | null {
  if (snapshot === null && log.updates.length === 0 && log.droppedCorrupt === 0) return null
  return {
    snapshot,
    updates: log.updates,
    lastSeq: Math.max(snapshotSeq, log.lastGoodSeq),
    updateBytes: log.updateBytes,
    droppedCorrupt: log.droppedCorrupt,
  }
}

/** A view of a Buffer as a plain Uint8Array, so callers and deep equality see one type whatever the backend. */
export function asBytes(data: Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/** An outbox message's trace contexts as one column: space-separated (a `traceparent` holds no space). */
export function traceText(trace: readonly string[] | undefined): string {
  return (trace ?? []).join(' ')
}

/** `traceText` read back; a row from before the column was added holds null. */
export function traceList(text: string | null): string[] {
  return text === null || text === '' ? [] : text.split(' ')
}
