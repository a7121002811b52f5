import { ErrorCode, MurmurError } from '@murmur/shared'
import { crc32 } from './crc32.js'
import type { DocKey, ListOptions, StoredDoc } from './storage.js'

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

const utf8 = new TextEncoder()

/** Orders strings by their UTF-8 bytes, as SQLite's BINARY and PostgreSQL's "C" collations do. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0
  const x = utf8.encode(a)
  const y = utf8.encode(b)
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i]
  return x.length - y.length
}

/** Orders keys by (engine, docId), the order `list` pages in. */
export function compareKeys(a: DocKey, b: DocKey): number {
  return compareUtf8(a.engine, b.engine) || compareUtf8(a.docId, b.docId)
}

/** Whether `key` belongs on the page `options` asks for (before the limit is applied). */
export function inPage(key: DocKey, options: ListOptions): boolean {
  if (options.engine !== undefined && key.engine !== options.engine) return false
  if (options.after === undefined) return true
  if (options.afterEngine !== undefined && options.engine === undefined) {
    const byEngine = compareUtf8(key.engine, options.afterEngine)
    return byEngine > 0 || (byEngine === 0 && compareUtf8(key.docId, options.after) > 0)
  }
  return compareUtf8(key.docId, options.after) > 0
}

/** The page size: at most `limit`, all when it is not given. */
export function pageLimit(options: ListOptions): number {
  const limit = options.limit
  if (limit === undefined) return Number.MAX_SAFE_INTEGER
  if (!(Number.isInteger(limit) && limit >= 0)) throw new RangeError('limit must be an integer >= 0')
  return limit
}

/** Sequence numbers are non-negative safe integers; anything else is a caller's bug. */
export function assertSeq(seq: number): void {
  if (!(Number.isSafeInteger(seq) && seq >= 0)) throw new RangeError(`invalid seq: ${seq}`)
}

/** The error of a read of a version that compaction folded into the snapshot. */
export function versionUnavailable(seq: number, snapshotSeq: number): MurmurError {
  return new MurmurError(ErrorCode.VERSION_UNAVAILABLE, `seq ${seq} is before the snapshot (up to seq ${snapshotSeq}); older versions are compacted away`)
}

/** Most history entries one call returns when no limit is given. */
export const HISTORY_PAGE = 1000

/** The history page size: `limit`, or `HISTORY_PAGE`. */
export function historyLimit(limit: number | undefined): number {
  if (limit === undefined) return HISTORY_PAGE
  if (!(Number.isInteger(limit) && limit >= 0)) throw new RangeError('limit must be an integer >= 0')
  return limit
}
