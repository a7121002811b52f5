import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type { LocalDoc, LocalStore, OutboxEntry } from './local-store.js'

interface MurmurDB extends DBSchema {
  /** Append-only log; key = auto-increment, so entries of a doc come back in order. */
  updates: { key: number; value: { doc: string; update: Uint8Array }; indexes: { byDoc: string } }
  snapshots: { key: string; value: { doc: string; snapshot: Uint8Array } }
  /** Unacknowledged local updates, keyed [doc, id]. */
  outbox: { key: [string, string]; value: { doc: string; id: string; update: Uint8Array } }
}

const DB_VERSION = 1

/**
 * The browser LocalStore: one IndexedDB database for all docs (not one per doc), three object stores.
 * A local edit goes to the log and the outbox in one transaction, so a crash cannot leave one without
 * the other.
 */
export class IndexedDbStore implements LocalStore {
  private constructor(private readonly db: IDBPDatabase<MurmurDB>) {}

  /** Open (or create) the database; in Node, load `fake-indexeddb/auto` first. */
  static async open(name = 'murmur'): Promise<IndexedDbStore> {
    const db = await openDB<MurmurDB>(name, DB_VERSION, {
      upgrade(db) {
        const updates = db.createObjectStore('updates', { autoIncrement: true })
        updates.createIndex('byDoc', 'doc')
        db.createObjectStore('snapshots', { keyPath: 'doc' })
        db.createObjectStore('outbox', { keyPath: ['doc', 'id'] })
      },
    })
    return new IndexedDbStore(db)
  }

  async load(docKey: string): Promise<LocalDoc> {
    const tx = this.db.transaction(['updates', 'snapshots', 'outbox'], 'readonly')
    const [snap, updates, outbox] = await Promise.all([
      tx.objectStore('snapshots').get(docKey),
      tx.objectStore('updates').index('byDoc').getAll(docKey),
      tx.objectStore('outbox').getAll(IDBKeyRange.bound([docKey, ''], [docKey, '\uffff'])),
    ])
    await tx.done
    return {
      snapshot: snap?.snapshot ?? null,
      updates: updates.map((u) => u.update),
      outbox: outbox.map((o): OutboxEntry => ({ id: o.id, update: o.update })),
    }
  }

  async appendLocal(docKey: string, entry: OutboxEntry): Promise<void> {
    const tx = this.db.transaction(['updates', 'outbox'], 'readwrite')
    void tx.objectStore('updates').add({ doc: docKey, update: entry.update })
    void tx.objectStore('outbox').put({ doc: docKey, id: entry.id, update: entry.update })
    await tx.done
  }

  async appendRemote(docKey: string, updates: readonly Uint8Array[]): Promise<void> {
    const tx = this.db.transaction('updates', 'readwrite')
    for (const update of updates) void tx.store.add({ doc: docKey, update })
    await tx.done
  }

  async acknowledge(docKey: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    const tx = this.db.transaction('outbox', 'readwrite')
    for (const id of ids) void tx.store.delete([docKey, id])
    await tx.done
  }

  async compact(docKey: string, snapshot: Uint8Array): Promise<void> {
    const tx = this.db.transaction(['updates', 'snapshots'], 'readwrite')
    const keys = await tx.objectStore('updates').index('byDoc').getAllKeys(docKey)
    for (const k of keys) void tx.objectStore('updates').delete(k)
    void tx.objectStore('snapshots').put({ doc: docKey, snapshot })
    await tx.done
  }

  async logLength(docKey: string): Promise<number> {
    return this.db.countFromIndex('updates', 'byDoc', docKey)
  }

  async close(): Promise<void> {
    this.db.close()
  }
}
