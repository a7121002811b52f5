/** Latency and throughput samples, and the summaries the table and the chart are made of. */

/** A growable list of numbers (milliseconds, usually) that does not box every sample. */
export class Samples {
  private data = new Float64Array(1024)
  private n = 0

  push(value: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.n++] = value
  }

  get count(): number {
    return this.n
  }

  /** A sorted copy. */
  sorted(): Float64Array {
    return this.data.slice(0, this.n).sort()
  }

  summary(): Summary {
    return summarize(this.sorted())
  }
}

export interface Summary {
  readonly count: number
  readonly min: number
  readonly median: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** Value at quantile q (0..1) of sorted values, nearest-rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]
}

export function summarize(sorted: ArrayLike<number>): Summary {
  let sum = 0
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]
  return {
    count: sorted.length,
    min: sorted.length > 0 ? sorted[0] : NaN,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length > 0 ? sum / sorted.length : NaN,
  }
}

export function summarizeList(values: readonly number[]): Summary {
  return summarize(Float64Array.from(values).sort())
}

export function median(values: readonly number[]): number {
  return summarizeList(values).median
}

/**
 * The distribution as (value, cumulative fraction) points, for the chart and the JSON: every quantile
 * step of 1/steps plus the extreme tail (99.9 %, max), so a long tail stays visible.
 */
export function cdfPoints(sorted: ArrayLike<number>, steps = 200): [value: number, fraction: number][] {
  if (sorted.length === 0) return []
  const out: [number, number][] = []
  for (let i = 1; i <= steps; i++) out.push([quantile(sorted, i / steps), i / steps])
  out.splice(out.length - 1, 0, [quantile(sorted, 0.999), 0.999])
  return out.sort((a, b) => a[1] - b[1])
}
