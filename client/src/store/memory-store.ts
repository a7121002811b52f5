import type { LocalDoc, LocalStore, OutboxEntry } from './local-store.js'

interface DocData {
  snapshot: Uint8Array | null
  updates: Uint8Array[]
  outbox: Map<string, Uint8Array>
}

/**
 * A LocalStore in memory. Several clients may share one instance, which is how tests model "the same
 * device after a reload" or "a tab that crashed".
 */
export class MemoryStore implements LocalStore {
  private readonly docs = new Map<string, DocData>()

  private doc(key: string): DocData {
    let d = this.docs.get(key)
    if (d === undefined) {
      d = { snapshot: null, updates: [], outbox: new Map() }
      this.docs.set(key, d)
    }
    return d
  }

  async load(docKey: string): Promise<LocalDoc> {
    const d = this.doc(docKey)
    const outbox: OutboxEntry[] = [...d.outbox].map(([id, update]) => ({ id, update }))
    return { snapshot: d.snapshot, updates: [...d.updates], outbox }
  }

  async appendLocal(docKey: string, entry: OutboxEntry): Promise<void> {
    const d = this.doc(docKey)
    d.updates.push(entry.update)
    d.outbox.set(entry.id, entry.update)
  }

  async appendRemote(docKey: string, updates: readonly Uint8Array[]): Promise<void> {
    const log = this.doc(docKey).updates
    for (const u of updates) log.push(u)
  }

  async acknowledge(docKey: string, ids: readonly string[]): Promise<void> {
    const d = this.doc(docKey)
    for (const id of ids) d.outbox.delete(id)
  }

  async compact(docKey: string, snapshot: Uint8Array): Promise<void> {
    const d = this.doc(docKey)
    d.snapshot = snapshot
    d.updates = []
  }

  async logLength(docKey: string): Promise<number> {
    return this.doc(docKey).updates.length
  }

  /** Unacknowledged entries of a doc (tests). */
  outboxSize(docKey: string): number {
    return this.doc(docKey).outbox.size
  }

  async close(): Promise<void> {}
}
