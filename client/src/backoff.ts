/** How long after a node said it was stopping (close 1001) retries stay at the first backoff step. */
export const RESTART_WINDOW_MS = 5_000

/**
 * When to try connecting again: jittered exponential backoff, capped, reset after a successful handshake,
 * and held at its first step for `RESTART_WINDOW_MS` after a node closed with 1001 (it is restarting).
 */
export class Backoff {
  private attempt = 0
  /** Until then (ms since epoch), retries stay at the first step: the server said it was stopping. */
  private restartUntil = 0

  constructor(
    private readonly initialMs = 250,
    private readonly maxMs = 10_000,
  ) {}

  /** Connected (or asked to connect at once): the next wait starts from the first step again. */
  reset(): void {
    this.attempt = 0
    this.restartUntil = 0
  }

  /** Start over from the first step, keeping a restart window that is running. */
  restartAttempts(): void {
    this.attempt = 0
  }

  /** The node is stopping: keep retries short while it restarts. */
  nodeRestarting(now = Date.now()): void {
    this.restartUntil = now + RESTART_WINDOW_MS
  }

  /** The wait before the next attempt, in ms; counts the attempt. */
  next(now = Date.now()): number {
    // While a stopping node restarts, retries stay at the first step, so clients are back within one step
    // of it listening again instead of waiting out a doubled delay; a refused connection costs little.
    const restarting = now < this.restartUntil
    const ceiling = restarting ? this.initialMs : Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 16))
    // Full jitter between half and all of the ceiling: a restarted server is not hit by every client at once.
    if (!restarting) this.attempt++
    return ceiling / 2 + Math.random() * (ceiling / 2)
  }
}
