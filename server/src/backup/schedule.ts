import type { Logger } from '../logger.js'
import { backupStore, type BackupResult, type StoreSpec } from './backup.js'
import type { BackupLocation } from './location.js'

/** What a scheduled backup reports: its result, or why it failed. */
export type BackupOutcome = { readonly ok: true; readonly result: BackupResult; readonly removed: string[] } | { readonly ok: false; readonly error: Error }

export interface BackupScheduleOptions {
  readonly store: StoreSpec
  /** A folder or S3 prefix: each backup gets its own name there, and the oldest beyond `keep` go. */
  readonly location: BackupLocation
  readonly intervalMs: number
  readonly keep: number
  readonly log: Logger
  readonly report: (outcome: BackupOutcome) => void
}

/**
 * `murmur serve --backup-interval-ms`: a backup of the node's store every interval (the first one an
 * interval after start), each written under its own name, then the oldest beyond `keep` removed. One
 * backup at a time: an interval that ends while a backup still runs starts the next one when it is done.
 * A failed backup is logged and counted; the next interval tries again.
 */
export class BackupSchedule {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private closed = false
  private readonly listeners: ((outcome: BackupOutcome) => void)[] = []

  constructor(private readonly options: BackupScheduleOptions) {}

  start(): void {
    this.arm()
  }

  /** Told after each scheduled backup, with its outcome. */
  onBackup(listener: (outcome: BackupOutcome) => void): void {
    this.listeners.push(listener)
  }

  /** Stops the schedule; waits for a backup that is running. */
  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  private arm(): void {
    if (this.closed) return
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => {
        this.running = null
        this.arm()
      })
    }, this.options.intervalMs)
    // A schedule alone does not keep the process alive.
    this.timer.unref()
  }

  private async runOnce(): Promise<void> {
    const { store, location, keep, log } = this.options
    let outcome: BackupOutcome
    try {
      const result = await backupStore(store, location)
      const removed = await this.prune(keep)
      log.info(
        { backup: result.location, bytes: result.bytes, seconds: Number(result.seconds.toFixed(3)), store: result.header.store, removed },
        'backup written',
      )
      outcome = { ok: true, result, removed }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      log.error({ err: error, to: location.description }, 'backup failed')
      outcome = { ok: false, error }
    }
    this.options.report(outcome)
    for (const l of this.listeners) l(outcome)
  }

  /** Removes the oldest backups beyond `keep`; a failure to remove one is logged, not fatal. */
  private async prune(keep: number): Promise<string[]> {
    const names = await this.options.location.list()
    const old = names.slice(0, Math.max(0, names.length - keep))
    const removed: string[] = []
    for (const name of old) {
      try {
        await this.options.location.remove(name)
        removed.push(name)
      } catch (err) {
        this.options.log.warn({ err, backup: name }, 'could not remove an old backup')
      }
    }
    return removed
  }
}
