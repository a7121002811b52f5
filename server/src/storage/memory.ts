import { crc32 } from './crc32.js'
import { GroupCommit, storageError, type LogEntry } from './group-commit.js'
import { assertSeq, checkLog, compareKeys, inPage, pageLimit, toStoredDoc } from './log.js'
import type { DocKey, ListOptions, Storage, StorageStats, StoredDoc } from './storage.js'

/** One log entry on the simulated disk. Mutable so tests can damage it. */
export interface MemoryLogEntry {
  readonly seq: number
  data: Uint8Array
  crc: number
}

/** Everything the simulated disk holds for one doc. */
export interface MemoryDocRecord {
  readonly key: DocKey
  snapshot: Uint8Array | null
  snapshotSeq: number
  /** Highest seq ever given out for this doc; it never goes down, so seqs are never reused. */
  lastSeq: number
  log: MemoryLogEntry[]
}

/**
 * The "disk" under MemoryStorage. It outlives a MemoryStorage instance: a new instance over the same disk
 * is a restart, which lets tests exercise recovery without a file system.
 */
export class MemoryDisk {
  readonly docs = new Map<string, MemoryDocRecord>()
  /** When set, every write throws it, as a full or vanished disk would. */
  failWrites: Error | null = null

  /** Flips the bytes of the doc's newest log entry (or its checksum when it is empty); false if none. */
  corruptLastEntry(key: DocKey): boolean {
    const entry = this.docs.get(diskKey(key))?.log.at(-1)
    if (!entry) return false
    if (entry.data.length === 0) entry.crc = ~entry.crc >>> 0
    else entry.data = entry.data.map((b) => b ^ 0xff)
    return true
  }
}

export interface MemoryStorageOptions {
  /** Default 0: commit on the next turn of the event loop, which still batches concurrent appends. */
  readonly groupCommitMs?: number
  readonly maxBatch?: number
}

/** Doc ids have no control characters, so NUL cannot occur inside either part. */
function diskKey(key: DocKey): string {
  return `${key.engine}\u0000${key.docId}`
}

/** Copies so that neither the caller nor the disk can change the other's bytes afterwards. */
function copy(data: Uint8Array): Uint8Array {
  return new Uint8Array(data)
}

/** Storage in memory, for tests. It keeps checksums and group commit so it behaves like the real ones. */
export class MemoryStorage implements Storage {
  readonly description = 'memory'
  readonly disk: MemoryDisk
  private readonly group: GroupCommit

  constructor(disk: MemoryDisk = new MemoryDisk(), options: MemoryStorageOptions = {}) {
    this.disk = disk
    this.group = new GroupCommit({
      groupCommitMs: options.groupCommitMs ?? 0,
      maxBatch: options.maxBatch ?? 1024,
      commit: (batch) => this.commit(batch),
    })
  }

  stats(): StorageStats {
    return this.group.stats()
  }

  async load(key: DocKey): Promise<StoredDoc | null> {
    this.assertOpen()
    const record = this.disk.docs.get(diskKey(key))
    if (!record) return null
    const log = checkLog(record.log)
    if (log.firstCorruptSeq !== null) {
      const bad = log.firstCorruptSeq
      record.log = record.log.filter((e) => e.seq < bad)
    }
    const doc = toStoredDoc(record.snapshot && copy(record.snapshot), record.snapshotSeq, log)
    return doc && { ...doc, updates: doc.updates.map(copy) }
  }

  append(key: DocKey, update: Uint8Array): Promise<number> {
    const data = copy(update)
    return this.group.append({ key, data, crc: crc32(data) })
  }

  flush(): Promise<void> {
    return this.group.flush()
  }

  async compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void> {
    assertSeq(upToSeq)
    const data = copy(snapshot)
    return this.group.exclusive(() => {
      this.assertWritable()
      const record = this.record(key)
      if (upToSeq < record.snapshotSeq) return
      record.snapshot = data
      record.snapshotSeq = upToSeq
      record.lastSeq = Math.max(record.lastSeq, upToSeq)
      record.log = record.log.filter((e) => e.seq > upToSeq)
    })
  }

  async list(options: ListOptions = {}): Promise<DocKey[]> {
    this.assertOpen()
    const limit = pageLimit(options)
    return [...this.disk.docs.values()]
      .filter((r) => (r.snapshot !== null || r.log.length > 0) && inPage(r.key, options))
      .map((r) => r.key)
      .sort(compareKeys)
      .slice(0, limit)
  }

  delete(key: DocKey): Promise<void> {
    return this.group.exclusive(() => {
      this.assertWritable()
      this.disk.docs.delete(diskKey(key))
    })
  }

  close(): Promise<void> {
    return this.group.close(() => {})
  }

  private commit(batch: readonly LogEntry[]): number[] {
    this.assertWritable()
    // Seqs are worked out before anything is written, so a failure leaves the disk as it was.
    const next = new Map<string, number>()
    const seqs = batch.map((entry) => {
      const k = diskKey(entry.key)
      const seq = (next.get(k) ?? this.disk.docs.get(k)?.lastSeq ?? 0) + 1
      next.set(k, seq)
      return seq
    })
    batch.forEach((entry, i) => {
      const record = this.record(entry.key)
      record.log.push({ seq: seqs[i], data: entry.data, crc: entry.crc })
      record.lastSeq = seqs[i]
    })
    return seqs
  }

  private record(key: DocKey): MemoryDocRecord {
    const k = diskKey(key)
    let record = this.disk.docs.get(k)
    if (!record) {
      record = { key: { engine: key.engine, docId: key.docId }, snapshot: null, snapshotSeq: 0, lastSeq: 0, log: [] }
      this.disk.docs.set(k, record)
    }
    return record
  }

  private assertOpen(): void {
    if (this.group.closed) throw storageError('storage is closed')
  }

  private assertWritable(): void {
    if (this.disk.failWrites) throw this.disk.failWrites
  }
}
