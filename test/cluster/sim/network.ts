/**
 * The simulated world membership runs in: a virtual clock, one event queue, a seeded PRNG and a network
 * that delays, drops, duplicates, reorders and partitions messages. Nothing here reads the wall clock or
 * Math.random, so a seed fixes the whole run.
 */

/** mulberry32: tiny, fast, and good enough to drive fault injection; the seed fixes the sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type Rng = () => number

export const between = (rng: Rng, lo: number, hi: number): number => lo + rng() * (hi - lo)
export const intBetween = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1))

interface Event {
  readonly at: number
  /** Insertion order breaks ties, so events at one instant run in the order they were scheduled. */
  readonly seq: number
  readonly run: () => void
}

/** A binary min-heap of events on the virtual clock. */
export class EventQueue {
  private heap: Event[] = []
  private seq = 0
  now = 0

  schedule(at: number, run: () => void): void {
    const ev: Event = { at: Math.max(at, this.now), seq: this.seq++, run }
    const h = this.heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  /** Run every event due up to `until`, then leave the clock at `until`. */
  runUntil(until: number): void {
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const ev = this.pop()
      this.now = ev.at
      ev.run()
    }
    this.now = Math.max(this.now, until)
  }

  private pop(): Event {
    const h = this.heap
    const top = h[0]
    const last = h.pop() as Event
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l], h[m])) m = l
        if (r < h.length && before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}

const before = (a: Event, b: Event): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)

export interface Faults {
  readonly minDelayMs: number
  readonly maxDelayMs: number
  /** Probability that a message is lost. */
  readonly drop: number
  /** Probability that a message is delivered twice (each copy with its own delay, so also reordered). */
  readonly duplicate: number
}

export const NO_FAULTS: Faults = { minDelayMs: 1, maxDelayMs: 20, drop: 0, duplicate: 0 }

/**
 * Best-effort delivery between named endpoints. Messages travel as JSON, as they do between real nodes,
 * so anything that does not survive serialisation fails here too. A partition cuts every pair of nodes
 * in different groups, checked at delivery so messages in flight when it starts are lost as well.
 */
export class SimNetwork {
  faults: Faults = NO_FAULTS
  sent = 0
  delivered = 0
  private groups: Map<string, number> | null = null

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Rng,
    private readonly deliver: (from: string, to: string, json: string) => void,
  ) {}

  partition(groups: readonly (readonly string[])[]): void {
    this.groups = new Map()
    groups.forEach((g, i) => g.forEach((id) => this.groups?.set(id, i)))
  }

  heal(): void {
    this.groups = null
  }

  canTalk(a: string, b: string): boolean {
    return this.groups === null || this.groups.get(a) === this.groups.get(b)
  }

  send(from: string, to: string, msg: unknown): void {
    this.sent++
    if (this.rng() < this.faults.drop) return
    const json = JSON.stringify(msg)
    const copies = this.rng() < this.faults.duplicate ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const delay = between(this.rng, this.faults.minDelayMs, this.faults.maxDelayMs)
      this.queue.schedule(this.queue.now + delay, () => {
        if (!this.canTalk(from, to)) return
        this.delivered++
        this.deliver(from, to, json)
      })
    }
  }
}
