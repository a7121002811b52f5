/** The default clock, one function for every bucket (a socket holds a bucket for its whole life). */
function performanceNow(): number {
  return performance.now()
}

/**
 * A token bucket: `ratePerSecond` tokens flow in continuously up to `burst`; each event takes one.
 * A rate of 0 means unlimited.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = performanceNow,
  ) {
    this.tokens = burst
    this.last = now()
  }

  /** Take `n` tokens if there are enough; false (and nothing taken) otherwise. */
  take(n = 1): boolean {
    if (this.ratePerSecond <= 0) return true
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond)
    this.last = t
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** True when the bucket has refilled completely (an idle key can be forgotten). */
  get full(): boolean {
    if (this.ratePerSecond <= 0) return true
    return this.tokens + ((this.now() - this.last) / 1000) * this.ratePerSecond >= this.burst
  }
}

/**
 * One bucket per key (a client IP), for connection rates. Buckets that refilled are swept, so the map
 * only holds keys that were busy recently.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()
  private sweepAt = 0

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** False when the rate is unlimited: every `take` succeeds, and callers need not find a key. */
  get enabled(): boolean {
    return this.ratePerSecond > 0
  }

  take(key: string): boolean {
    if (this.ratePerSecond <= 0) return true
    this.sweep()
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      // Under a flood of distinct addresses the table stays bounded; the oldest entry makes room.
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
      bucket = new TokenBucket(this.ratePerSecond, this.burst)
      this.buckets.set(key, bucket)
    }
    return bucket.take()
  }

  get size(): number {
    return this.buckets.size
  }

  private sweep(): void {
    const now = performance.now()
    if (now < this.sweepAt) return
    this.sweepAt = now + 10_000
    for (const [key, bucket] of this.buckets) if (bucket.full) this.buckets.delete(key)
  }
}
