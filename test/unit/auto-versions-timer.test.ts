import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { asDocId } from '@murmur/shared'
import { AutoVersions } from '../../server/dist/versions/auto-versions.js'
import type { DocVersions, LiveDoc } from '../../server/dist/index.js'

const quietLog = { warn: () => undefined, error: () => undefined, info: () => undefined, debug: () => undefined } as never
const key = { engine: 'yjs', docId: asDocId('steady') } as const
const doc = { key } as unknown as LiveDoc

/** The policy on a fake clock, with the versions it made (and when). */
function policyUnderTest(idleMs: number, minIntervalMs: number): { auto: AutoVersions; madeAt: number[] } {
  const madeAt: number[] = []
  const versions = {
    create: async () => {
      madeAt.push(Date.now())
      return { id: `v${madeAt.length}`, at: Date.now() }
    },
    remove: async () => undefined,
  } as unknown as DocVersions
  const storage = { versions: async () => [] }
  const auto = new AutoVersions(versions, storage, { idleMs, minIntervalMs, keep: 100, maxAgeMs: 1e12 }, () => false, quietLog)
  return { auto, madeAt }
}

describe('AutoVersions: the timer of a doc under steady editing', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('arms one timer per pause, not one per change, and still waits for the pause', async () => {
    const { auto, madeAt } = policyUnderTest(1000, 0)
    const arms = vi.spyOn(globalThis, 'setTimeout')
    // 200 changes, 10 ms apart: two seconds of editing without a 1 s pause.
    for (let i = 0; i < 200; i++) {
      auto.changed(doc, new Uint8Array(0), null)
      await vi.advanceTimersByTimeAsync(10)
    }
    expect(madeAt).toEqual([])
    // The first timer, and the one that waits for the rest of the pause when it fires early: a handful,
    // where re-arming on every change would take 200.
    expect(arms.mock.calls.length).toBeLessThanOrEqual(4)
    const lastChange = Date.now() - 10
    await vi.advanceTimersByTimeAsync(2000)
    expect(madeAt).toEqual([lastChange + 1000])
    auto.close()
  })

  it('a change while the pause is waited for moves the version to a pause after it', async () => {
    const { auto, madeAt } = policyUnderTest(1000, 0)
    auto.changed(doc, new Uint8Array(0), null)
    await vi.advanceTimersByTimeAsync(900)
    auto.changed(doc, new Uint8Array(0), null)
    await vi.advanceTimersByTimeAsync(900)
    expect(madeAt).toEqual([])
    await vi.advanceTimersByTimeAsync(200)
    expect(madeAt).toEqual([1_000_000 + 1900])
    auto.close()
  })
})
