/**
 * When a live doc may go to sleep (`EngineDoc.hibernate`): once no write came for `afterMs`, a wait that
 * doubles at each wake (up to 64×), so a doc edited in bursts is not decoded and re-encoded at every
 * pause. What sleeping means is the live doc's (`sleep`); this only keeps the time.
 */
export class HibernationTimer {
  /** Writes that changed or extended the doc; tells a hibernation whether its snapshot is still current. */
  writes = 0
  private lastWriteAt = 0
  private wakeups = 0
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly afterMs: number,
    /** Whether the doc can sleep now (its engine hibernates, and it is awake). */
    private readonly canSleep: () => boolean,
    private readonly sleep: () => Promise<void>,
  ) {}

  /** A wait is running. */
  get armed(): boolean {
    return this.timer !== null
  }

  /** Count a use: whether it woke the doc (which lengthens the next wait) and whether it wrote. */
  noteUse(woke: boolean, wrote: boolean): void {
    if (woke) this.wakeups++
    if (!wrote) return
    this.writes++
    this.lastWriteAt = Date.now()
    this.arm()
  }

  /** Start a wait (of the current length unless told) if none runs and the doc can sleep. */
  arm(delay = this.delay()): void {
    if (this.timer !== null || delay <= 0 || !this.canSleep()) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.fire()
    }, delay)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private async fire(): Promise<void> {
    const wait = this.lastWriteAt + this.delay() - Date.now()
    if (wait > 0) return this.arm(wait)
    await this.sleep()
  }

  private delay(): number {
    return this.afterMs * 2 ** Math.min(this.wakeups, 6)
  }
}
