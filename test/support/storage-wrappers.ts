import type { AppendOptions, DocKey, Storage, StoredDoc } from '../../server/dist/index.js'

/** A storage that counts calls and can be told to fail loads, around a real one. */
export class InstrumentedStorage implements Storage {
  loads = 0
  appends = 0
  /** Appends made with `background: true` (nobody waits for them). */
  backgroundAppends = 0
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

  append(key: DocKey, update: Uint8Array, options?: AppendOptions): Promise<number> {
    this.appends++
    if (options?.background === true) this.backgroundAppends++
    return this.inner.append(key, update, options)
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

  close(): Promise<void> {
    return this.inner.close()
  }

  history(...args: Parameters<Storage['history']>): ReturnType<Storage['history']> {
    return this.inner.history(...args)
  }

  loadAt(...args: Parameters<Storage['loadAt']>): ReturnType<Storage['loadAt']> {
    return this.inner.loadAt(...args)
  }

  listTombstones(...args: Parameters<Storage['listTombstones']>): ReturnType<Storage['listTombstones']> {
    return this.inner.listTombstones(...args)
  }

  putHints(...args: Parameters<Storage['putHints']>): ReturnType<Storage['putHints']> {
    return this.inner.putHints(...args)
  }

  hints(): ReturnType<Storage['hints']> {
    return this.inner.hints()
  }

  deleteHints(...args: Parameters<Storage['deleteHints']>): ReturnType<Storage['deleteHints']> {
    return this.inner.deleteHints(...args)
  }

  tombstone(...args: Parameters<Storage['tombstone']>): ReturnType<Storage['tombstone']> {
    return this.inner.tombstone(...args)
  }

  putVersion(...args: Parameters<Storage['putVersion']>): ReturnType<Storage['putVersion']> {
    return this.inner.putVersion(...args)
  }

  versions(...args: Parameters<Storage['versions']>): ReturnType<Storage['versions']> {
    return this.inner.versions(...args)
  }

  version(...args: Parameters<Storage['version']>): ReturnType<Storage['version']> {
    return this.inner.version(...args)
  }

  deleteVersion(...args: Parameters<Storage['deleteVersion']>): ReturnType<Storage['deleteVersion']> {
    return this.inner.deleteVersion(...args)
  }

  versionIds(): ReturnType<Storage['versionIds']> {
    return this.inner.versionIds()
  }

  changes(...args: Parameters<Storage['changes']>): ReturnType<Storage['changes']> {
    return this.inner.changes(...args)
  }

  tombstoneOf(...args: Parameters<Storage['tombstoneOf']>): ReturnType<Storage['tombstoneOf']> {
    return this.inner.tombstoneOf(...args)
  }

  onCommit(...args: Parameters<Storage['onCommit']>): void {
    this.inner.onCommit(...args)
  }

  outboxPut(...args: Parameters<Storage['outboxPut']>): ReturnType<Storage['outboxPut']> {
    return this.inner.outboxPut(...args)
  }

  outboxDue(...args: Parameters<Storage['outboxDue']>): ReturnType<Storage['outboxDue']> {
    return this.inner.outboxDue(...args)
  }

  outboxRetry(...args: Parameters<Storage['outboxRetry']>): ReturnType<Storage['outboxRetry']> {
    return this.inner.outboxRetry(...args)
  }

  outboxDone(...args: Parameters<Storage['outboxDone']>): ReturnType<Storage['outboxDone']> {
    return this.inner.outboxDone(...args)
  }

  outboxCount(): Promise<number> {
    return this.inner.outboxCount()
  }
}
