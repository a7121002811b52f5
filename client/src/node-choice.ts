/** How long after a node said it was stopping (close 1001) retries stay at the first backoff step. */
export const RESTART_WINDOW_MS = 5_000
/** A node's failed attempts older than this are forgotten: it may well have restarted since. */
export const FAILURE_MEMORY_MS = 30_000

/** Why the next attempt is needed. */
export const RetryReason = {
  /** A welcomed connection dropped (or went silent): the node is tried once more before moving on. */
  dropped: 'dropped',
  /** An attempt failed before the node welcomed us (refused, timed out, closed during the handshake). */
  unreachable: 'unreachable',
  /** The node closed with 1001: it is stopping (a restart or a deploy). */
  stopping: 'stopping',
  /** Nothing is wrong with the node (a new token is to be tried): the same node again. */
  again: 'again',
} as const
export type RetryReason = (typeof RetryReason)[keyof typeof RetryReason]

export interface NodeChoiceOptions {
  /** Backoff's first step (default 250 ms). */
  readonly initialMs?: number
  /** Backoff's cap (default 10 s). */
  readonly maxMs?: number
  /** Uniform in [0, 1); `Math.random` by default (tests pass a seeded one). */
  readonly random?: () => number
  /** The node of the list to start on; one at random when not given. */
  readonly start?: string
}

interface Health {
  /** Failed attempts on this node since it last welcomed us. */
  failures: number
  failedAt: number
}

/**
 * Which of the cluster's nodes to connect to, and how long to wait first.
 *
 * - The first node is `start`, or one picked at random, so clients spread over the nodes instead of all
 *   using the first of a list.
 * - A client stays on the node it is on while that node is healthy; it never moves back by itself.
 * - A welcomed connection that drops is retried once on the same node (a blip); when that attempt fails
 *   too, or an attempt fails before a welcome, or the node says it is stopping, the client moves on: to
 *   the other node with the fewest recent failed attempts, ties broken at random, so the clients of a
 *   dead node spread over the live ones rather than all landing on the next one in the list.
 * - Waits are full jitter: uniform between 0 and a ceiling, so clients that lost the same node at the
 *   same instant come back spread over the whole step. The ceiling starts at `initialMs` and doubles
 *   after every full round over the nodes without a welcome (so each node is tried once at the first
 *   step), up to `maxMs`; it stays at the first step while a single node restarts (close 1001, for
 *   `RESTART_WINDOW_MS`), and starts over once a node welcomes us.
 */
export class NodeChoice {
  private list: readonly string[]
  private current: string
  /** By URL; a node that leaves the list and comes back keeps its record. */
  private readonly health = new Map<string, Health>()
  /** Failed attempts since the last welcome. */
  private attempt = 0
  /** Until then (ms since epoch), retries stay at the first step: the only node said it was stopping. */
  private restartUntil = 0
  /** The current node dropped a welcomed connection and gets one more attempt before the client moves. */
  private secondChance = false
  private readonly initialMs: number
  private readonly maxMs: number
  private readonly random: () => number

  constructor(urls: readonly string[], options: NodeChoiceOptions = {}) {
    this.list = unique(urls)
    if (this.list.length === 0) throw new TypeError('no server URL: pass url or urls')
    this.initialMs = options.initialMs ?? 250
    this.maxMs = options.maxMs ?? 10_000
    this.random = options.random ?? Math.random
    this.current = options.start !== undefined && this.list.includes(options.start) ? options.start : this.pick(this.list)
  }

  /** The node to connect to now. */
  get url(): string {
    return this.current
  }

  /** The nodes to choose from. */
  get urls(): readonly string[] {
    return this.list
  }

  /**
   * Choose from `urls` from now on (the cluster's members changed). The node the client is on stays
   * until it fails, even when it is no longer listed; an empty list is refused.
   */
  setUrls(urls: readonly string[]): void {
    const next = unique(urls)
    if (next.length === 0) throw new TypeError('no server URL: pass at least one')
    this.list = next
  }

  /** The current node welcomed us: stay on it, and the next wait starts from the first step again. */
  connected(): void {
    this.attempt = 0
    this.restartUntil = 0
    this.secondChance = true
    this.health.delete(this.current)
  }

  /** Asked to connect at once (back online, a new token): waits start from the first step again. */
  restartAttempts(): void {
    this.attempt = 0
  }

  /**
   * The attempt on the current node ended for `reason`: choose the node for the next one (`url`) and
   * return how long to wait before it, in ms.
   */
  retry(reason: RetryReason, now = Date.now()): number {
    if (reason === RetryReason.stopping && this.others().length === 0) this.restartUntil = now + RESTART_WINDOW_MS
    let moveOn = true
    if (reason === RetryReason.again) moveOn = false
    else if (reason === RetryReason.dropped && this.secondChance) moveOn = false
    if (reason !== RetryReason.again) this.secondChance = false
    if (moveOn) {
      this.health.set(this.current, { failures: (this.health.get(this.current)?.failures ?? 0) + 1, failedAt: now })
      this.current = this.nextNode(now)
    }
    return this.wait(now)
  }

  /** The wait before the next attempt; counts the attempt. */
  private wait(now: number): number {
    // While the only node restarts, retries stay at the first step, so clients are back within one step
    // of it listening again instead of waiting out a doubled delay; a refused connection costs little.
    const restarting = now < this.restartUntil
    const rounds = Math.floor(this.attempt / this.list.length)
    const ceiling = restarting ? this.initialMs : Math.min(this.maxMs, this.initialMs * 2 ** Math.min(rounds, 16))
    if (!restarting) this.attempt++
    return this.random() * ceiling
  }

  private others(): string[] {
    return this.list.filter((u) => u !== this.current)
  }

  /** The other node with the fewest recent failures, ties at random (the current one if it is alone). */
  private nextNode(now: number): string {
    const others = this.others()
    if (others.length === 0) return this.list.includes(this.current) ? this.current : this.list[0]
    const recent = (url: string): number => {
      const h = this.health.get(url)
      return h === undefined || now - h.failedAt > FAILURE_MEMORY_MS ? 0 : h.failures
    }
    const fewest = Math.min(...others.map(recent))
    return this.pick(others.filter((u) => recent(u) === fewest))
  }

  private pick(urls: readonly string[]): string {
    return urls[Math.min(urls.length - 1, Math.floor(this.random() * urls.length))]
  }
}

function unique(urls: readonly string[]): string[] {
  return [...new Set(urls)]
}
