import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LivenessWheel } from '../../server/dist/ws/liveness.js'

class Probe {
  livenessSlot = -1
  readonly visits: number[] = []
  visit(now: number): void {
    this.visits.push(now)
  }
}

describe('LivenessWheel', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('visits every socket once per round, the first time within a round of joining', () => {
    const wheel = new LivenessWheel<Probe>(1600, () => Date.now())
    const start = Date.now()
    const a = new Probe()
    wheel.add(a)
    vi.advanceTimersByTime(500)
    const b = new Probe()
    wheel.add(b)
    vi.advanceTimersByTime(1600 * 3)
    expect(a.visits.length).toBeGreaterThanOrEqual(3)
    expect(b.visits.length).toBeGreaterThanOrEqual(3)
    expect(a.visits[0] - start).toBeLessThanOrEqual(1600)
    expect(b.visits[0] - start - 500).toBeLessThanOrEqual(1600)
    for (const p of [a, b]) for (let i = 1; i < p.visits.length; i++) expect(p.visits[i] - p.visits[i - 1]).toBe(1600)
    expect(wheel.size).toBe(2)
    expect(new Set(wheel.values())).toEqual(new Set([a, b]))
  })

  it('spreads sockets that join together over the round', () => {
    const wheel = new LivenessWheel<Probe>(1600, () => Date.now())
    const probes = Array.from({ length: 32 }, () => new Probe())
    for (const p of probes) wheel.add(p)
    vi.advanceTimersByTime(1600)
    const perTick = new Map<number, number>()
    for (const p of probes) perTick.set(p.visits[0], (perTick.get(p.visits[0]) ?? 0) + 1)
    // 16 ticks a round, two sockets in each.
    expect(perTick.size).toBe(16)
    for (const n of perTick.values()) expect(n).toBe(2)
  })

  it('forgets a socket that left, and runs no timer while it holds none', () => {
    const wheel = new LivenessWheel<Probe>(1600, () => Date.now())
    const a = new Probe()
    wheel.add(a)
    wheel.add(a)
    expect(wheel.size).toBe(1)
    expect(vi.getTimerCount()).toBe(1)
    wheel.delete(a)
    expect(a.livenessSlot).toBe(-1)
    expect(wheel.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(5000)
    expect(a.visits).toEqual([])
  })
})
