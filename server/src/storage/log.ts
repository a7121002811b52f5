import { ErrorCode, MurmurError } from '@murmur/shared'
import type { DocKey, ListOptions } from './storage.js'

export { asBytes, checkLog, toStoredDoc, traceList, traceText, type CheckedLog, type StoredEntry } from './log-check.js'

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
