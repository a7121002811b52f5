import type { NodeId } from '@murmur/shared'

/** Fisher–Yates in place, driven by the injected random source (seeded in the simulation). */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

/**
 * SWIM's randomized round robin: each round probes every member once, in a fresh random order, which
 * bounds the time between two probes of one member to 2(n − 1) − 1 periods.
 */
export class ProbeOrder {
  private order: NodeId[] = []
  private index = 0

  constructor(private readonly random: () => number) {}

  /** The next member to probe; when the round is over, a new one starts from `members()`. */
  next(probeable: (id: NodeId) => boolean, members: () => NodeId[]): NodeId | undefined {
    for (let round = 0; round < 2; round++) {
      while (this.index < this.order.length) {
        const id = this.order[this.index++]
        if (probeable(id)) return id
      }
      this.order = shuffle(members(), this.random)
      this.index = 0
    }
    return undefined
  }

  /** A member that became probeable joins the current round at a random place, not at its end. */
  add(id: NodeId): void {
    if (this.order.indexOf(id, this.index) !== -1) return
    const at = this.index + Math.floor(this.random() * (this.order.length - this.index + 1))
    this.order.splice(at, 0, id)
  }
}
