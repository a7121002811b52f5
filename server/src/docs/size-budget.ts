import { ErrorCode, MurmurError } from '@murmur/shared'

/**
 * A doc's size as `--max-doc-bytes` sees it: bytes of the last exact measure (the stored snapshot and log
 * at load, a compaction's snapshot, or an encoding made to check the limit) plus bytes persisted since.
 * The sum over-estimates (updates overlap), so it is re-measured before a write is refused.
 */
export class SizeBudget {
  /** Bytes persisted since the last exact measure. */
  growth = 0

  constructor(
    private readonly max: number,
    private base: number,
  ) {}

  grew(bytes: number): void {
    this.growth += bytes
  }

  /** A snapshot of `bytes` was stored; it covers `growth` bytes of what was persisted before it was taken. */
  measured(bytes: number, growth: number): void {
    this.base = bytes
    this.growth = Math.max(0, this.growth - growth)
  }

  /**
   * Throws DOC_TOO_LARGE when a write of `incoming` bytes would take the doc past the limit. Only near the
   * limit does it cost anything: the doc is measured exactly (`measure`), and a sync message is checked
   * for changes (`isWrite`: a reader's sync messages are never refused).
   */
  assertRoom(incoming: number, measure: () => number, isWrite: () => boolean): void {
    if (this.base + this.growth + incoming <= this.max) return
    if (this.growth > 0) {
      this.base = measure()
      this.growth = 0
      if (this.base + incoming <= this.max) return
    }
    if (!isWrite()) return
    throw new MurmurError(ErrorCode.DOC_TOO_LARGE, `the doc would grow past ${this.max} bytes (--max-doc-bytes)`)
  }
}
