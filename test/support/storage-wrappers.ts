import type { DocKey, Storage, StoredDoc } from '../../server/dist/index.js'

/** A storage that counts calls and can be told to fail loads, around a real one. */
export class InstrumentedStorage implements Storage {
  loads = 0
  appends = 0
  failLoads = false
  /** Called at the start of every load; tests use it to hold loads until many clients are waiting. */
  loadGate: Promise<void> = Promise.resolve()

  constructor(private readonly inner: Storage) {}

  get description(): string {
    return `instrumented(${this.inner.description})`
  }

  async load(key: DocKey): Promise<StoredDoc | null> {
    this.loads++
    await this.loadGate
    if (this.failLoads) throw new Error('injected load failure')
    return this.inner.load(key)
  }

  append(key: DocKey, update: Uint8Array): Promise<number> {
    this.appends++
    return this.inner.append(key, update)
  }

  flush(): Promise<void> {
    return this.inner.flush()
  }

  compact(key: DocKey, snapshot: Uint8Array, upToSeq: number): Promise<void> {
    return this.inner.compact(key, snapshot, upToSeq)
  }

  list(options?: Parameters<Storage['list']>[0]): Promise<DocKey[]> {
    return this.inner.list(options)
  }

  delete(key: DocKey): Promise<void> {
    return this.inner.delete(key)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
