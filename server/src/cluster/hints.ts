import type { NodeId } from '@murmur/shared'
import type { Logger } from '../logger.js'
import type { DocKey, Hint, HintStore } from '../storage/storage.js'

/**
 * Hinted handoff's bookkeeping: per peer, the docs (as `engine:docId` keys) it may lack because this
 * node could not reach it. Held in memory and written to storage in batches, in the order they were
 * taken (a hint taken, then handed over, is stored, then deleted), so a node that restarts while a
 * replica is down still hands its writes over once the replica is back.
 */
export class Hints {
  private readonly byPeer = new Map<NodeId, Set<string>>()
  /** Hints taken and not yet handed to storage. */
  private unwritten: Hint[] = []
  private flushing = false
  /** Storage writes, one after another. */
  private writes: Promise<void> = Promise.resolve()
  /** Hints storage has made durable (for tests and the admin view). */
  stored = 0

  constructor(
    private readonly store: HintStore | null,
    private readonly toDoc: (key: string) => DocKey,
    private readonly toKey: (doc: DocKey) => string,
    private readonly log: Logger,
  ) {}

  /** Read the hints a previous run left (call before any link comes up). */
  async load(): Promise<number> {
    if (this.store === null) return 0
    const stored = await this.store.hints()
    for (const h of stored) this.remember(h.peer as NodeId, this.toKey(h.doc))
    return stored.length
  }

  /** Hold a hint; true if it is new. */
  add(peer: NodeId, key: string): boolean {
    if (!this.remember(peer, key)) return false
    if (this.store === null) return true
    this.unwritten.push({ peer, doc: this.toDoc(key) })
    if (!this.flushing) {
      this.flushing = true
      // Every hint taken in this turn of the event loop goes to storage in one write.
      setImmediate(() => this.flush())
    }
    return true
  }

  /** The docs hinted for `peer`, which are forgotten here and in storage: the caller hands them over now. */
  take(peer: NodeId): string[] {
    const keys = [...(this.byPeer.get(peer) ?? [])]
    this.byPeer.delete(peer)
    if (this.store !== null && keys.length > 0) {
      this.flush()
      this.enqueue('delete', (store) => store.deleteHints(peer))
    }
    return keys
  }

  /** Forget every hint for a peer that left the cluster for good. */
  forget(peer: NodeId): void {
    this.byPeer.delete(peer)
    if (this.store === null) return
    this.flush()
    this.enqueue('delete', (store) => store.deleteHints(peer))
  }

  get count(): number {
    let n = 0
    for (const s of this.byPeer.values()) n += s.size
    return n
  }

  /** Docs waiting in hints, by the peer they wait for. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [peer, set] of this.byPeer) if (set.size > 0) out[peer] = set.size
    return out
  }

  /** Resolves once every hint taken before the call is written (or its write failed). */
  async written(): Promise<void> {
    this.flush()
    await this.writes
  }

  private remember(peer: NodeId, key: string): boolean {
    let set = this.byPeer.get(peer)
    if (set === undefined) this.byPeer.set(peer, (set = new Set()))
    if (set.has(key)) return false
    set.add(key)
    return true
  }

  private flush(): void {
    this.flushing = false
    if (this.unwritten.length === 0) return
    const batch = this.unwritten
    this.unwritten = []
    this.enqueue('write', async (store) => {
      await store.putHints(batch)
      this.stored += batch.length
    })
  }

  private enqueue(what: string, op: (store: HintStore) => Promise<void>): void {
    const store = this.store
    if (store === null) return
    this.writes = this.writes.then(() => op(store)).catch((err: unknown) => this.log.warn({ err }, `could not ${what} hints in storage`))
  }
}
