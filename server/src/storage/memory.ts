import { crc32 } from './crc32.js'
import { GroupCommit, storageError, type CommitTuning, type LogEntry } from './group-commit.js'
import { assertSeq, checkLog, compareKeys, historyLimit, inPage, pageLimit, toStoredDoc, versionUnavailable } from './log.js'
import type {
  AppendOptions,
  ChangeRecord,
  DocHistory,
  DocKey,
  Hint,
  HistoryOptions,
  ListOptions,
  OutboxInput,
  OutboxMessage,
  Storage,
  StorageStats,
  StoredDoc,
  StoredVersion,
  Tombstone,
  TombstonedDoc,
  VersionIdEntry,
  VersionInfo,
} from './storage.js'

/** One log entry on the simulated disk. Mutable so tests can damage it. */
export interface MemoryLogEntry {
  readonly seq: number
  data: Uint8Array
  crc: number
  /** Commit time (ms since the epoch). */
  readonly at: number
}

/** Everything the simulated disk holds for one doc. */
export interface MemoryDocRecord {
  readonly key: DocKey
  snapshot: Uint8Array | null
  snapshotSeq: number
  snapshotAt: number | null
  /** Highest seq ever given out for this doc; it never goes down, so seqs are never reused. */
  lastSeq: number
  log: MemoryLogEntry[]
  /** One record per stored update; compaction keeps them. */
  changes: ChangeRecord[]
  versions: Map<string, StoredVersion>
  /** Ids of deleted versions (see `VersionStore.deleteVersion`). */
  deletedVersions: Set<string>
}

/**
 * The "disk" under MemoryStorage. It outlives a MemoryStorage instance: a new instance over the same disk
 * is a restart, which lets tests exercise recovery without a file system.
 */
export class MemoryDisk {
  readonly docs = new Map<string, MemoryDocRecord>()
  readonly tombstones = new Map<string, Tombstone & { readonly key: DocKey }>()
  /** Hints by `peer ‖ engine ‖ docId`. */
  readonly hints = new Map<string, Hint>()
  readonly outbox = new Map<string, OutboxMessage>()
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

/** `groupCommitMs` defaults to 0 here: commit on the next turn of the event loop, which still batches. */
export type MemoryStorageOptions = CommitTuning

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
      backgroundCommitMs: options.backgroundCommitMs,
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

  append(key: DocKey, update: Uint8Array, options?: AppendOptions): Promise<number> {
    const data = copy(update)
    return this.group.append({ key, data, crc: crc32(data), author: options?.author }, options)
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
      record.snapshotAt = Date.now()
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

  async history(key: DocKey, options: HistoryOptions = {}): Promise<DocHistory | null> {
    this.assertOpen()
    const limit = historyLimit(options.limit)
    const record = this.disk.docs.get(diskKey(key))
    if (!record || (record.snapshot === null && record.log.length === 0)) return null
    const after = options.afterSeq ?? 0
    return {
      snapshot: record.snapshot === null ? null : { upToSeq: record.snapshotSeq, bytes: record.snapshot.length, at: record.snapshotAt },
      entries: record.log
        .filter((e) => e.seq > after)
        .slice(0, limit)
        .map((e) => ({ seq: e.seq, bytes: e.data.length, at: e.at })),
      lastSeq: record.lastSeq,
    }
  }

  async loadAt(key: DocKey, seq: number): Promise<StoredDoc | null> {
    this.assertOpen()
    assertSeq(seq)
    const record = this.disk.docs.get(diskKey(key))
    if (!record) return null
    if (record.snapshot !== null && seq < record.snapshotSeq) throw versionUnavailable(seq, record.snapshotSeq)
    const doc = toStoredDoc(record.snapshot && copy(record.snapshot), record.snapshotSeq, checkLog(record.log.filter((e) => e.seq <= seq)))
    return doc && { ...doc, updates: doc.updates.map(copy) }
  }

  putVersion(key: DocKey, version: StoredVersion): Promise<void> {
    const stored = { ...version, state: copy(version.state) }
    return this.group.exclusive(() => {
      this.assertWritable()
      const record = this.record(key)
      if (!record.versions.has(version.id) && !record.deletedVersions.has(version.id)) record.versions.set(version.id, stored)
    })
  }

  async versions(key: DocKey): Promise<VersionInfo[]> {
    this.assertOpen()
    const record = this.disk.docs.get(diskKey(key))
    if (!record) return []
    return [...record.versions.values()]
      .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(({ state, ...info }) => ({ ...info, bytes: state.length }))
  }

  async version(key: DocKey, id: string): Promise<StoredVersion | null> {
    this.assertOpen()
    const version = this.disk.docs.get(diskKey(key))?.versions.get(id)
    return version ? { ...version, state: copy(version.state) } : null
  }

  deleteVersion(key: DocKey, id: string): Promise<boolean> {
    return this.group.exclusive(() => {
      this.assertWritable()
      const record = this.record(key)
      record.deletedVersions.add(id)
      return record.versions.delete(id)
    })
  }

  async versionIds(): Promise<VersionIdEntry[]> {
    this.assertOpen()
    const out: VersionIdEntry[] = []
    for (const record of this.disk.docs.values()) {
      for (const id of record.versions.keys()) out.push({ key: record.key, id, deleted: false })
      for (const id of record.deletedVersions) out.push({ key: record.key, id, deleted: true })
    }
    return out
  }

  async changes(key: DocKey, afterSeq: number, upToSeq: number): Promise<ChangeRecord[]> {
    this.assertOpen()
    const record = this.disk.docs.get(diskKey(key))
    return record ? record.changes.filter((c) => c.seq > afterSeq && c.seq <= upToSeq) : []
  }

  tombstone(key: DocKey, deletedAt: number): Promise<void> {
    return this.group.exclusive(() => {
      this.assertWritable()
      this.disk.docs.delete(diskKey(key))
      this.disk.tombstones.set(diskKey(key), { key: { engine: key.engine, docId: key.docId }, deletedAt })
    })
  }

  async tombstoneOf(key: DocKey): Promise<Tombstone | null> {
    this.assertOpen()
    const found = this.disk.tombstones.get(diskKey(key))
    return found ? { deletedAt: found.deletedAt } : null
  }

  async listTombstones(options: ListOptions = {}): Promise<TombstonedDoc[]> {
    this.assertOpen()
    return [...this.disk.tombstones.values()]
      .filter((t) => inPage(t.key, options))
      .sort((a, b) => compareKeys(a.key, b.key))
      .slice(0, pageLimit(options))
      .map((t) => ({ engine: t.key.engine, docId: t.key.docId, deletedAt: t.deletedAt }))
  }

  async putHints(hints: readonly Hint[]): Promise<void> {
    this.assertOpen()
    this.assertWritable()
    for (const h of hints) this.disk.hints.set(`${h.peer}\u0000${diskKey(h.doc)}`, { peer: h.peer, doc: { engine: h.doc.engine, docId: h.doc.docId } })
  }

  async hints(): Promise<Hint[]> {
    this.assertOpen()
    return [...this.disk.hints.values()].sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : compareKeys(a.doc, b.doc)))
  }

  async deleteHints(peer: string): Promise<void> {
    this.assertOpen()
    this.assertWritable()
    for (const [k, h] of this.disk.hints) if (h.peer === peer) this.disk.hints.delete(k)
  }

  onCommit(listener: (seconds: number, appends: number) => void): void {
    this.group.onCommit(listener)
  }

  async outboxPut(messages: readonly OutboxInput[]): Promise<void> {
    this.assertOpen()
    this.assertWritable()
    for (const message of messages) {
      const existing = this.disk.outbox.get(message.id)
      this.disk.outbox.set(message.id, {
        id: message.id,
        body: message.body,
        dueAt: message.dueAt,
        attempts: existing?.attempts ?? 0,
        createdAt: existing?.createdAt ?? Date.now(),
        lastError: existing?.lastError ?? null,
        trace: [...(message.trace ?? [])],
      })
    }
  }

  async outboxDue(now: number, limit: number): Promise<OutboxMessage[]> {
    this.assertOpen()
    return [...this.disk.outbox.values()]
      .filter((m) => m.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit)
  }

  async outboxRetry(id: string, dueAt: number, error: string): Promise<void> {
    this.assertOpen()
    this.assertWritable()
    const m = this.disk.outbox.get(id)
    if (m) this.disk.outbox.set(id, { ...m, dueAt, attempts: m.attempts + 1, lastError: error })
  }

  async outboxDone(id: string): Promise<void> {
    this.assertOpen()
    this.assertWritable()
    this.disk.outbox.delete(id)
  }

  async outboxCount(): Promise<number> {
    this.assertOpen()
    return this.disk.outbox.size
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
    const at = Date.now()
    batch.forEach((entry, i) => {
      const record = this.record(entry.key)
      record.log.push({ seq: seqs[i], data: entry.data, crc: entry.crc, at })
      record.changes.push({ seq: seqs[i], principal: entry.author?.principal ?? null, at, ids: entry.author?.ids ?? null })
      record.lastSeq = seqs[i]
    })
    return seqs
  }

  private record(key: DocKey): MemoryDocRecord {
    const k = diskKey(key)
    let record = this.disk.docs.get(k)
    if (!record) {
      record = { key: { engine: key.engine, docId: key.docId }, snapshot: null, snapshotSeq: 0, snapshotAt: null, lastSeq: 0, log: [], changes: [], versions: new Map(), deletedVersions: new Set() }
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
