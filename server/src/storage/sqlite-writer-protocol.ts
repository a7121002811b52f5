/*
 * The messages between SqliteStorage (main thread) and its writer thread (sqlite-writer.ts). Every write
 * the store makes is one request; the writer runs requests one at a time, in the order they were posted,
 * and answers each with a reply carrying the request's id.
 */
import type { Author, DocKey, Hint, OutboxInput, StoredDoc, StoredVersion } from './storage.js'

/**
 * Byte strings packed into one buffer, so that a batch crosses threads as one transferred buffer instead
 * of a structured-clone copy per entry (a copy of each entry's whole backing buffer, which for a slice of
 * a socket's receive buffer is far more than the entry).
 */
export interface PackedBytes {
  readonly buffer: ArrayBuffer
  /** Length of each item, in order; each starts where the previous one ended. */
  readonly lengths: readonly number[]
}

/** A StoredDoc in the form it crosses threads: its updates packed, its snapshot in a buffer of its own. */
export interface PackedDoc extends Omit<StoredDoc, 'snapshot' | 'updates'> {
  readonly snapshot: Uint8Array<ArrayBuffer> | null
  readonly updates: PackedBytes
}

/** Each request's fields and what its reply carries. */
export interface WriterOps {
  /** Open the write connection: WAL, synchronous=FULL, schema created or upgraded. */
  open: { fields: { path: string; busyTimeoutMs: number }; result: null }
  /** One group commit: entry i is (keys[i], bytes i of data, crcs[i]). Returns the seq of each entry. */
  commit: { fields: { keys: DocKey[]; crcs: number[]; authors: (Author | null)[]; data: PackedBytes }; result: number[] }
  compact: { fields: { key: DocKey; snapshot: Uint8Array; upToSeq: number }; result: null }
  /** Delete a doc's data and record its tombstone. */
  remove: { fields: { key: DocKey; deletedAt: number }; result: null }
  /** Read a doc and delete its torn tail in one transaction; returns what it read. */
  repairLoad: { fields: { key: DocKey }; result: PackedDoc | null }
  /** Store a version unless one with its id is stored. */
  putVersion: { fields: { key: DocKey; version: StoredVersion }; result: null }
  /** Remove a version; whether it was there. */
  deleteVersion: { fields: { key: DocKey; versionId: string }; result: boolean }
  /** Store hints, leaving those already stored as they are. */
  putHints: { fields: { hints: readonly Hint[] }; result: null }
  /** Remove every hint for a peer. */
  deleteHints: { fields: { peer: string }; result: null }
  outboxPut: { fields: { messages: readonly OutboxInput[] }; result: null }
  outboxRetry: { fields: { messageId: string; dueAt: number; error: string }; result: null }
  outboxDone: { fields: { messageId: string }; result: null }
  /** Close the write connection; the thread takes no request after this one. */
  close: { fields: Record<never, never>; result: null }
}

export type WriterOp = keyof WriterOps
export type WriterRequest<K extends WriterOp = WriterOp> = { [Op in K]: { readonly op: Op } & WriterOps[Op]['fields'] }[K]
export type WriterResult<K extends WriterOp> = WriterOps[K]['result']

/** A request on its way to the writer. */
export interface WriterCall {
  readonly id: number
  readonly request: WriterRequest
}

/** The writer's answer to the call with the same id. An error crosses as its message and SQLite code. */
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code: string | null }

export function pack(items: readonly Uint8Array[]): PackedBytes {
  let total = 0
  for (const item of items) total += item.byteLength
  const out = new Uint8Array(total)
  const lengths: number[] = []
  let at = 0
  for (const item of items) {
    out.set(item, at)
    at += item.byteLength
    lengths.push(item.byteLength)
  }
  return { buffer: out.buffer, lengths }
}

/** Views into the packed buffer, one per item; no copy. */
export function unpack(packed: PackedBytes): Uint8Array[] {
  const items: Uint8Array[] = []
  let at = 0
  for (const length of packed.lengths) {
    items.push(new Uint8Array(packed.buffer, at, length))
    at += length
  }
  return items
}

/**
 * A copy of `data` that owns its buffer exactly, so that it can be transferred. The caller's bytes may
 * be a view into a larger buffer that must not be detached (a Node Buffer from the pool, say).
 */
export function ownedCopy(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(data.byteLength)
  copy.set(data)
  return copy
}
