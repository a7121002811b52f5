import { ErrorCode, MurmurError } from '@murmur/shared'
import type { AppendOptions, Author, DocKey, StorageStats } from './storage.js'

/** One update on its way into a doc's log, with the checksum it will be stored under. */
export interface LogEntry {
  readonly key: DocKey
  readonly data: Uint8Array
  readonly crc: number
  /** Who it came from (`AppendOptions.author`); recorded in the same transaction. */
  readonly author?: Author
}

/**
 * Writes a batch in ONE transaction and returns the sequence number given to each entry, in batch order.
 * Throwing means nothing of the batch is durable.
 */
export type CommitBatch = (batch: readonly LogEntry[]) => Promise<readonly number[]> | readonly number[]

/** How long a background append may wait for company, unless a storage is told otherwise. */
export const BACKGROUND_COMMIT_MS = 50

/** How a durable backend batches appends into commits. */
export interface CommitTuning {
  /** How long an append may wait for company before its batch is committed. Default 2 (memory: 0). */
  readonly groupCommitMs?: number
  /**
   * The same for background appends (`AppendOptions.background`), at least `groupCommitMs`. Default 50:
   * a cluster node fsyncs the pushes it takes from peers about 20 times a second instead of once each.
   */
  readonly backgroundCommitMs?: number
  /** A batch this large is committed at once, without waiting. Default 1024. */
  readonly maxBatch?: number
}

export interface GroupCommitOptions extends CommitTuning {
  readonly groupCommitMs: number
  readonly maxBatch: number
  readonly commit: CommitBatch
}

interface PendingAppend {
  readonly entry: LogEntry
  /** 1 for the first append ever made on this instance, 2 for the next, ... */
  readonly ordinal: number
  /** performance.now() by which it must be committing: arrival plus its kind's wait. */
  readonly deadline: number
  readonly done: Promise<number>
  resolve(seq: number): void
  reject(err: unknown): void
}

/** The error every storage failure surfaces as, so the sync layer can answer with a stable code. */
export function storageError(message: string, cause?: unknown): MurmurError {
  const detail = cause instanceof Error ? `: ${cause.message}` : ''
  return new MurmurError(ErrorCode.STORAGE_FAILED, message + detail, { cause })
}

const noop = (): void => {}

/**
 * Group commit: appends wait in a pending batch that is written in one transaction (one fsync) when the
 * earliest deadline among them passed (arrival + `groupCommitMs`, or + `backgroundCommitMs` for
 * background appends), when it reaches `maxBatch`, or on flush. Every append resolves after its batch
 * committed, or rejects if the batch failed.
 *
 * Commits and exclusive operations (compaction, tombstones, close) run one at a time under one lock, so a
 * backend never sees two writers. While a commit runs, the next batch keeps filling.
 */
export class GroupCommit {
  private readonly options: GroupCommitOptions
  private pending: PendingAppend[] = []
  private inflight: PendingAppend[] = []
  private timer: NodeJS.Timeout | null = null
  /** When the armed timer fires (performance.now() time). */
  private timerAt = Infinity
  /** The earliest deadline among the pending appends; Infinity when there are none. */
  private deadline = Infinity
  private readonly backgroundCommitMs: number
  /** A drain is queued or running; scheduling waits for it to finish. */
  private draining = false
  /** Appends up to this ordinal are wanted by a flush: they commit without waiting for the deadline. */
  private urgentUpTo = 0
  private closing: Promise<void> | null = null
  private lockTail: Promise<unknown> = Promise.resolve()
  private commits = 0
  private appends = 0
  /** Told about every successful commit: its duration in seconds and its number of appends. */
  private readonly commitListeners: ((seconds: number, appends: number) => void)[] = []

  constructor(options: GroupCommitOptions) {
    if (!(options.groupCommitMs >= 0)) throw new RangeError('groupCommitMs must be >= 0')
    if (!(Number.isInteger(options.maxBatch) && options.maxBatch >= 1)) {
      throw new RangeError('maxBatch must be an integer >= 1')
    }
    this.options = options
    this.backgroundCommitMs = Math.max(options.groupCommitMs, options.backgroundCommitMs ?? BACKGROUND_COMMIT_MS)
  }

  get closed(): boolean {
    return this.closing !== null
  }

  stats(): StorageStats {
    return { commits: this.commits, appends: this.appends }
  }

  onCommit(listener: (seconds: number, appends: number) => void): void {
    this.commitListeners.push(listener)
  }

  append(entry: LogEntry, options: AppendOptions = {}): Promise<number> {
    if (this.closed) return Promise.reject(storageError('storage is closed'))
    let resolve: (seq: number) => void = noop
    let reject: (err: unknown) => void = noop
    const done = new Promise<number>((res, rej) => {
      resolve = res
      reject = rej
    })
    this.appends++
    const deadline = performance.now() + (options.background === true ? this.backgroundCommitMs : this.options.groupCommitMs)
    this.pending.push({ entry, ordinal: this.appends, deadline, done, resolve, reject })
    if (deadline < this.deadline || this.pending.length >= this.options.maxBatch) {
      this.deadline = Math.min(this.deadline, deadline)
      this.schedule()
    }
    return done
  }

  /** Resolves once everything appended before the call is durable; rejects if any of it failed. */
  async flush(): Promise<void> {
    const waits = [...this.inflight, ...this.pending].map((p) => p.done)
    if (this.pending.length > 0) {
      this.urgentUpTo = this.appends
      this.kick()
    }
    await Promise.all(waits)
  }

  /**
   * Runs `fn` alone, after committing everything appended before the call. Appends made while `fn` waits
   * for its turn may be committed before or after it.
   */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(storageError('storage is closed'))
    return this.locked(async () => {
      await this.drain(this.pending.length)
      return fn()
    })
  }

  /** Refuses new appends, commits the pending ones, then runs `release` (close the database). */
  close(release: () => Promise<void> | void): Promise<void> {
    if (this.closing) return this.closing
    this.disarm()
    this.closing = this.locked(async () => {
      await this.drain(this.pending.length)
      await release()
    })
    return this.closing
  }

  private locked<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.lockTail.then(fn)
    this.lockTail = run.catch(noop)
    return run
  }

  private isDue(): boolean {
    const first = this.pending[0]
    if (!first) return false
    return (
      first.ordinal <= this.urgentUpTo ||
      this.closed ||
      this.pending.length >= this.options.maxBatch ||
      performance.now() >= this.deadline
    )
  }

  /** Commits now if the pending batch is due, else arms the timer for its deadline. */
  private schedule(): void {
    if (this.draining) return
    if (this.pending.length === 0) return
    if (this.isDue()) {
      this.kick()
      return
    }
    // Armed already for this deadline or an earlier one (which then re-arms for what is left).
    if (this.timer !== null && this.timerAt <= this.deadline) return
    this.disarm()
    this.timerAt = this.deadline
    this.timer = setTimeout(
      () => {
        this.timer = null
        this.timerAt = Infinity
        this.kick()
      },
      Math.max(0, this.deadline - performance.now()),
    )
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.timerAt = Infinity
  }

  private kick(): void {
    this.disarm()
    if (this.draining) return
    this.draining = true
    void this.locked(() => this.drainDue())
      .catch(noop)
      .finally(() => {
        this.draining = false
        this.schedule()
      })
  }

  private async drainDue(): Promise<void> {
    while (this.isDue()) await this.commitNext(this.options.maxBatch)
  }

  /** Commits the first `count` pending appends, in batches of at most maxBatch. Call under the lock. */
  private async drain(count: number): Promise<void> {
    let left = Math.min(count, this.pending.length)
    while (left > 0) left -= await this.commitNext(Math.min(left, this.options.maxBatch))
  }

  private async commitNext(size: number): Promise<number> {
    const batch = this.pending.splice(0, size)
    if (batch.length === 0) return 0
    this.deadline = Infinity
    for (const p of this.pending) if (p.deadline < this.deadline) this.deadline = p.deadline
    this.inflight = batch
    try {
      const started = performance.now()
      const seqs = await this.options.commit(batch.map((p) => p.entry))
      if (seqs.length !== batch.length) throw new Error(`commit returned ${seqs.length} seqs for ${batch.length} entries`)
      this.commits++
      const seconds = (performance.now() - started) / 1000
      for (const listener of this.commitListeners) {
        try {
          listener(seconds, batch.length)
        } catch {
          // An observer's failure must never turn a durable commit into a reported failure.
        }
      }
      batch.forEach((p, i) => p.resolve(seqs[i]))
    } catch (err) {
      // The transaction rolled back as a whole: none of these appends is durable, so none may resolve.
      const error = storageError(`could not commit ${batch.length} appends`, err)
      for (const p of batch) p.reject(error)
    } finally {
      this.inflight = []
    }
    return batch.length
  }
}
