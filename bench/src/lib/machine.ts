import { readFileSync } from 'node:fs'
import os from 'node:os'
import { sleep } from './timing.js'

/**
 * CPU use of the whole machine, from /proc/stat. The bench shares its machine with whatever else runs;
 * what other processes use during a measurement is reported next to the figures, and each measurement
 * first waits (a bounded time) for the machine to be quiet.
 */

function busyAndTotal(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const total = fields.reduce((a, b) => a + b, 0)
    const idle = fields[3] + (fields[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return { busy: NaN, total: NaN }
  }
}

/** Starts measuring; the returned function gives the cores busy machine-wide since. */
export function machineCpu(): () => number {
  const start = busyAndTotal()
  const cores = os.cpus().length
  return () => {
    const now = busyAndTotal()
    const total = now.total - start.total
    return total > 0 ? ((now.busy - start.busy) / total) * cores : NaN
  }
}

/**
 * Wait until the machine has been nearly idle (below `threshold` cores) for one 500 ms sample, or
 * `maxWaitMs` passed. Returns the cores busy in the last sample.
 */
export async function waitForQuiet(maxWaitMs = 15_000, threshold = 0.3): Promise<number> {
  const end = performance.now() + maxWaitMs
  for (;;) {
    const cpu = machineCpu()
    await sleep(500)
    const busy = cpu()
    if (!(busy >= threshold) || performance.now() > end) return busy
  }
}
