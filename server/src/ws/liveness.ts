/** What the wheel visits: a socket that checks its own liveness and keep-alive. */
export interface LivenessCheck {
  /** The wheel's slot for this socket (-1 while it is in none); only the wheel writes it. */
  livenessSlot: number
  visit(now: number): void
}

/** Slots per round: each tick visits one, so the pings of many sockets are spread over the round. */
const SLOTS = 16

/**
 * One timer for the liveness checks and keep-alives of every socket of a node, instead of an interval
 * per socket. Sockets join the slots in turn, so that thousands connecting at once (a reconnect storm
 * after a restart) are visited spread over the round rather than all in the same tick, every round from
 * then on. A socket is visited once every round, the first time within a round of joining. The timer
 * runs only while some socket is registered.
 */
export class LivenessWheel<T extends LivenessCheck> {
  private readonly slots: Set<T>[] = Array.from({ length: SLOTS }, () => new Set<T>())
  private cursor = 0
  private nextSlot = 0
  private count = 0
  private timer: NodeJS.Timeout | null = null

  constructor(
    /** How often each socket is visited. */
    readonly roundMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.count
  }

  /** Every registered socket. */
  *values(): IterableIterator<T> {
    for (const slot of this.slots) yield* slot
  }

  add(item: T): void {
    if (item.livenessSlot >= 0) return
    const index = this.nextSlot
    this.nextSlot = (index + 1) % SLOTS
    this.slots[index].add(item)
    item.livenessSlot = index
    this.count++
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(this.roundMs / SLOTS)))
      this.timer.unref()
    }
  }

  delete(item: T): void {
    if (item.livenessSlot < 0) return
    this.slots[item.livenessSlot].delete(item)
    item.livenessSlot = -1
    this.count--
    if (this.count === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }

  private tick(): void {
    const slot = this.slots[this.cursor]
    this.cursor = (this.cursor + 1) % SLOTS
    if (slot.size === 0) return
    const now = this.now()
    // A visit may end a socket; a Set keeps iterating correctly when entries leave meanwhile.
    for (const item of slot) item.visit(now)
  }
}
