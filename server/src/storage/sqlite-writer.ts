/*
 * The writer thread of a SqliteStorage: it owns the one write connection and runs every write
 * transaction (group commits, compactions, deletes, tombstones, torn-tail repairs, hints, the outbox), so that
 * their fsyncs, and any wait for a lock held by another connection, stall this thread and never the
 * server's event loop. Started by WriterThread (sqlite-writer-thread.ts); requests and replies are in
 * sqlite-writer-protocol.ts.
 */
import { parentPort } from 'node:worker_threads'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { DELETED_VERSION_KIND, toStoredDoc, traceText } from './log-check.js'
import { MIGRATE_TO_2, MIGRATE_TO_3, MIGRATE_TO_4, MIGRATE_TO_5, PAGE_CACHE_SIZE, SCHEMA, SCHEMA_VERSION, prepareLogReads, readDoc, type KeyArgs } from './sqlite-schema.js'
import {
  ownedCopy,
  pack,
  unpack,
  type PackedDoc,
  type WriterCall,
  type WriterOp,
  type WriterReply,
  type WriterRequest,
  type WriterResult,
} from './sqlite-writer-protocol.js'

function prepareWrites(db: Db) {
  return {
    ...prepareLogReads(db),
    lastSeq: db.prepare<KeyArgs, number>('SELECT last_seq FROM snapshots WHERE engine = ? AND doc_id = ?').pluck(),
    setLastSeq: db.prepare<[string, string, number, number]>(
      `INSERT INTO snapshots (engine, doc_id, last_seq, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    ),
    insertUpdate: db.prepare<[string, string, number, Uint8Array, number, number]>(
      'INSERT INTO updates (engine, doc_id, seq, data, crc32, at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    deleteRange: db.prepare<[string, string, number, number]>(
      'DELETE FROM updates WHERE engine = ? AND doc_id = ? AND seq >= ? AND seq <= ?',
    ),
    putSnapshot: db.prepare<[string, string, Uint8Array, number, number, number, number]>(
      `INSERT INTO snapshots (engine, doc_id, snapshot, up_to_seq, last_seq, updated_at, snapshot_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET snapshot = excluded.snapshot, up_to_seq = excluded.up_to_seq,
         last_seq = max(last_seq, excluded.last_seq), updated_at = excluded.updated_at, snapshot_at = excluded.snapshot_at`,
    ),
    insertChange: db.prepare<[string, string, number, string | null, number, string | null]>(
      'INSERT INTO changes (engine, doc_id, seq, principal, at, ids) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    putVersion: db.prepare<[string, string, string, string | null, string, string, number, number, Uint8Array]>(
      `INSERT INTO versions (engine, doc_id, id, name, kind, principal, created_at, seq, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (engine, doc_id, id) DO NOTHING`,
    ),
    // A deleted version stays as a tombstone row: kind 'deleted', no state (see `VersionStore.deleteVersion`).
    deleteVersion: db.prepare<[string, string, string]>(
      `UPDATE versions SET kind = '${DELETED_VERSION_KIND}', name = NULL, state = x'' WHERE engine = ? AND doc_id = ? AND id = ? AND kind <> '${DELETED_VERSION_KIND}'`,
    ),
    versionTombstone: db.prepare<[string, string, string, number]>(
      `INSERT INTO versions (engine, doc_id, id, name, kind, principal, created_at, seq, state) VALUES (?, ?, ?, NULL, '${DELETED_VERSION_KIND}', '', ?, 0, x'')
       ON CONFLICT (engine, doc_id, id) DO NOTHING`,
    ),
    deleteVersions: db.prepare<KeyArgs>('DELETE FROM versions WHERE engine = ? AND doc_id = ?'),
    deleteChanges: db.prepare<KeyArgs>('DELETE FROM changes WHERE engine = ? AND doc_id = ?'),
    deleteUpdates: db.prepare<KeyArgs>('DELETE FROM updates WHERE engine = ? AND doc_id = ?'),
    deleteDoc: db.prepare<KeyArgs>('DELETE FROM snapshots WHERE engine = ? AND doc_id = ?'),
    putTombstone: db.prepare<[string, string, number]>(
      `INSERT INTO tombstones (engine, doc_id, deleted_at) VALUES (?, ?, ?)
       ON CONFLICT (engine, doc_id) DO UPDATE SET deleted_at = excluded.deleted_at`,
    ),
    deleteTombstone: db.prepare<KeyArgs>('DELETE FROM tombstones WHERE engine = ? AND doc_id = ?'),
    putHint: db.prepare<[string, string, string]>('INSERT INTO hints (peer, engine, doc_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    deleteHints: db.prepare<[string]>('DELETE FROM hints WHERE peer = ?'),
    outboxPut: db.prepare<[string, string, number, number, string]>(
      `INSERT INTO outbox (id, body, due_at, created_at, trace) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET body = excluded.body, due_at = excluded.due_at, trace = excluded.trace`,
    ),
    outboxRetry: db.prepare<[number, string, string]>('UPDATE outbox SET due_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?'),
    outboxDone: db.prepare<[string]>('DELETE FROM outbox WHERE id = ?'),
  }
}

/** Opens the write connection and brings the schema up to date. */
function openDatabase(path: string, busyTimeoutMs: number): Db {
  const db = new Database(path)
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true })
    if (mode !== 'wal') throw new Error(`could not switch to WAL (journal_mode is ${String(mode)})`)
    // FULL makes every commit fsync the WAL: an acknowledged append survives power loss, not only a crash.
    db.pragma('synchronous = FULL')
    db.pragma(`cache_size = ${PAGE_CACHE_SIZE}`)
    // The wait for a lock held by another connection blocks this thread only, never the event loop.
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
    const version = Number(db.pragma('user_version', { simple: true }))
    if (version > SCHEMA_VERSION) throw new Error(`schema version ${version} is newer than this server's`)
    db.transaction(() => {
      db.exec(SCHEMA)
      if (version < 2) db.exec(MIGRATE_TO_2)
      if (version < 3) db.exec(MIGRATE_TO_3)
      if (version < 4) db.exec(MIGRATE_TO_4)
      if (version < 5) db.exec(MIGRATE_TO_5)
      db.pragma(`user_version = ${SCHEMA_VERSION}`)
    }).immediate()
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/*
 * Write transactions start IMMEDIATE: a deferred one would read first and then fail at once when it
 * tries to upgrade to a write while another connection holds the lock, without waiting busy_timeout.
 */
class Writer {
  private readonly sql: ReturnType<typeof prepareWrites>

  constructor(private readonly db: Db) {
    this.sql = prepareWrites(db)
  }

  /** One transaction, one fsync, for the whole batch; seqs continue each doc's high-water mark. */
  commit({ keys, crcs, authors, data }: WriterRequest<'commit'>): number[] {
    const entries = unpack(data)
    return this.db.transaction(() => {
      const last = new Map<string, { engine: string; docId: string; seq: number }>()
      const now = Date.now()
      const seqs = entries.map((bytes, i) => {
        const { engine, docId } = keys[i]
        const k = `${engine}\u0000${docId}`
        const seq = (last.get(k)?.seq ?? this.sql.lastSeq.get(engine, docId) ?? 0) + 1
        last.set(k, { engine, docId, seq })
        this.sql.insertUpdate.run(engine, docId, seq, bytes, crcs[i], now)
        const author = authors[i]
        this.sql.insertChange.run(engine, docId, seq, author?.principal ?? null, now, author?.ids ?? null)
        return seq
      })
      for (const { engine, docId, seq } of last.values()) this.sql.setLastSeq.run(engine, docId, seq, now)
      return seqs
    }).immediate()
  }

  compact({ key, snapshot, upToSeq }: WriterRequest<'compact'>): null {
    this.db.transaction(() => {
      const row = this.sql.snapshot.get(key.engine, key.docId)
      if (row && upToSeq < row.up_to_seq) return
      const now = Date.now()
      this.sql.putSnapshot.run(key.engine, key.docId, snapshot, upToSeq, upToSeq, now, now)
      this.sql.deleteRange.run(key.engine, key.docId, 0, upToSeq)
    }).immediate()
    return null
  }

  remove({ key, deletedAt }: WriterRequest<'remove'>): null {
    this.db.transaction(() => {
      this.sql.deleteUpdates.run(key.engine, key.docId)
      this.sql.deleteDoc.run(key.engine, key.docId)
      this.sql.deleteVersions.run(key.engine, key.docId)
      this.sql.deleteChanges.run(key.engine, key.docId)
      this.sql.putTombstone.run(key.engine, key.docId, deletedAt)
    }).immediate()
    return null
  }

  /**
   * Reads the doc again, now under the write lock, and deletes its torn tail so that the next appends
   * continue a clean log (last_seq keeps their seqs new). Deleting only up to the last entry read keeps
   * anything committed after the read; here nothing can be, but the bound costs nothing.
   */
  repairLoad({ key }: WriterRequest<'repairLoad'>): PackedDoc | null {
    return this.db.transaction((): PackedDoc | null => {
      const read = readDoc(this.sql, key)
      if (!read) return null
      const { log } = read
      if (log.firstCorruptSeq !== null) this.sql.deleteRange.run(key.engine, key.docId, log.firstCorruptSeq, log.lastReadSeq)
      const doc = toStoredDoc(read.snapshot, read.upToSeq, log)
      return doc && { ...doc, snapshot: doc.snapshot && ownedCopy(doc.snapshot), updates: pack(doc.updates) }
    }).immediate()
  }

  putVersion({ key, version: v }: WriterRequest<'putVersion'>): null {
    this.sql.putVersion.run(key.engine, key.docId, v.id, v.name, v.kind, v.principal, v.at, v.seq, v.state)
    return null
  }

  deleteVersion({ key, versionId }: WriterRequest<'deleteVersion'>): boolean {
    return this.db.transaction(() => {
      if (this.sql.deleteVersion.run(key.engine, key.docId, versionId).changes > 0) return true
      // Deleted before it arrived here: the tombstone keeps it from being stored later.
      this.sql.versionTombstone.run(key.engine, key.docId, versionId, Date.now())
      return false
    }).immediate()
  }

  putHints({ hints }: WriterRequest<'putHints'>): null {
    this.db.transaction(() => {
      for (const h of hints) this.sql.putHint.run(h.peer, h.doc.engine, h.doc.docId)
    }).immediate()
    return null
  }

  deleteHints({ peer }: WriterRequest<'deleteHints'>): null {
    this.sql.deleteHints.run(peer)
    return null
  }

  outboxPut({ messages }: WriterRequest<'outboxPut'>): null {
    const now = Date.now()
    this.db.transaction(() => {
      for (const m of messages) this.sql.outboxPut.run(m.id, m.body, m.dueAt, now, traceText(m.trace))
    }).immediate()
    return null
  }

  outboxRetry({ messageId, dueAt, error }: WriterRequest<'outboxRetry'>): null {
    this.sql.outboxRetry.run(dueAt, error, messageId)
    return null
  }

  outboxDone({ messageId }: WriterRequest<'outboxDone'>): null {
    this.sql.outboxDone.run(messageId)
    return null
  }

  close(): null {
    if (this.db.open) this.db.close()
    return null
  }
}

let writer: Writer | null = null

type Handlers = { [K in WriterOp]: (request: WriterRequest<K>) => WriterResult<K> }

function opened(): Writer {
  if (!writer) throw new Error('the write connection is not open')
  return writer
}

const handlers: Handlers = {
  open: ({ path, busyTimeoutMs }) => {
    if (writer) throw new Error('the write connection is already open')
    writer = new Writer(openDatabase(path, busyTimeoutMs))
    return null
  },
  commit: (r) => opened().commit(r),
  compact: (r) => opened().compact(r),
  remove: (r) => opened().remove(r),
  repairLoad: (r) => opened().repairLoad(r),
  putVersion: (r) => opened().putVersion(r),
  deleteVersion: (r) => opened().deleteVersion(r),
  putHints: (r) => opened().putHints(r),
  deleteHints: (r) => opened().deleteHints(r),
  outboxPut: (r) => opened().outboxPut(r),
  outboxRetry: (r) => opened().outboxRetry(r),
  outboxDone: (r) => opened().outboxDone(r),
  close: () => {
    const result = writer?.close() ?? null
    writer = null
    return result
  },
}

function run<K extends WriterOp>(request: WriterRequest<K>): WriterResult<K> {
  return (handlers[request.op] as (r: WriterRequest<K>) => WriterResult<K>)(request)
}

/** Buffers a reply can move instead of copying: those the writer made for it. */
function transferList(result: unknown, op: WriterOp): ArrayBuffer[] {
  if (op !== 'repairLoad' || result === null) return []
  const doc = result as PackedDoc
  return doc.snapshot ? [doc.updates.buffer, doc.snapshot.buffer] : [doc.updates.buffer]
}

const port = parentPort
if (!port) throw new Error('sqlite-writer.js runs as a worker thread of SqliteStorage')

port.on('message', ({ id, request }: WriterCall) => {
  let reply: WriterReply
  let transfer: ArrayBuffer[] = []
  try {
    const result = run(request)
    reply = { id, ok: true, result }
    transfer = transferList(result, request.op)
  } catch (err) {
    const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : null
    reply = { id, ok: false, message: err instanceof Error ? err.message : String(err), code }
  }
  port.postMessage(reply, transfer)
})
