import type { LocalStore } from '../store/local-store.js'
import type { Logger } from '../logger.js'

/** Compact the local log after this many entries. */
const LOCAL_COMPACT_EVERY = 500

/**
 * A doc's writes to the local store, one after the other in the order they were asked for. Updates from
 * the server that arrive while the store is busy are written together: one store call (one IndexedDB
 * transaction) and one step of the chain per batch, not per update.
 */
export class LocalWrites {
  private chain: Promise<void> = Promise.resolve()
  /**
   * Updates from the server queued for one write at the end of the chain; later arrivals join it until
   * that write starts or another write is queued behind it (the store sees writes in arrival order).
   */
  private remoteBatch: Uint8Array[] | null = null
  private remoteSinceCompact = 0

  constructor(
    private readonly docKey: string,
    private readonly store: Promise<LocalStore>,
    private readonly log: Logger,
    /** The doc's whole state, for compacting the local log. */
    private readonly snapshot: () => Uint8Array,
  ) {}

  /** Queue `write` behind every write before it; `failed` hears its error, `settled` runs either way. */
  queue(write: (store: LocalStore) => Promise<void>, failed: (err: unknown) => void, settled?: () => void): void {
    this.remoteBatch = null
    const written = this.chain.then(async () => write(await this.store)).catch(failed)
    this.chain = settled === undefined ? written : written.finally(settled)
  }

  /** A change from the server, into the local log (with whatever else arrives before the write starts). */
  appendRemote(update: Uint8Array): void {
    // A copy: the bytes may be a view into a larger buffer read from the socket, which the store would keep.
    const bytes = new Uint8Array(update)
    if (this.remoteBatch !== null) {
      this.remoteBatch.push(bytes)
      return
    }
    const batch = [bytes]
    this.remoteBatch = batch
    this.chain = this.chain
      .then(() => this.storeRemote(batch))
      .catch((err: unknown) => this.log.error('murmur: could not store a remote update', err))
  }

  private async storeRemote(batch: Uint8Array[]): Promise<void> {
    // Closed now: what arrives from here on goes into the next batch.
    if (this.remoteBatch === batch) this.remoteBatch = null
    const store = await this.store
    await store.appendRemote(this.docKey, batch)
    this.remoteSinceCompact += batch.length
    if (this.remoteSinceCompact >= LOCAL_COMPACT_EVERY) {
      this.remoteSinceCompact = 0
      if ((await store.logLength(this.docKey)) >= LOCAL_COMPACT_EVERY) {
        await store.compact(this.docKey, this.snapshot())
      }
    }
  }

  /** Resolves once every write queued so far is done. */
  done(): Promise<void> {
    return this.chain
  }
}
