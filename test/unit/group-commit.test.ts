import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GroupCommit, type LogEntry } from '../../server/dist/index.js'

const KEY = { engine: 'yjs', docId: 'doc' } as LogEntry['key']

function entry(byte: number): LogEntry {
  return { key: KEY, data: Uint8Array.of(byte), crc: 0 }
}

/** A GroupCommit whose commits are recorded with the (fake) time they ran at. */
function harness(options: { groupCommitMs: number; backgroundCommitMs?: number }) {
  const commits: { at: number; bytes: number[] }[] = []
  let seq = 0
  const group = new GroupCommit({
    ...options,
    maxBatch: 1024,
    commit: (batch) => {
      commits.push({ at: performance.now(), bytes: batch.map((e) => e.data[0]) })
      return batch.map(() => ++seq)
    },
  })
  return { group, commits }
}

describe('group commit: background appends', () => {
  let start = 0
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    start = performance.now()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('commits an append someone waits for after groupCommitMs, a background one after backgroundCommitMs', async () => {
    const { group, commits } = harness({ groupCommitMs: 2, backgroundCommitMs: 50 })
    const background = group.append(entry(1), { background: true })
    await vi.advanceTimersByTimeAsync(49)
    expect(commits).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(commits).toEqual([{ at: start + 50, bytes: [1] }])
    await expect(background).resolves.toBe(1)

    const waited = group.append(entry(2))
    await vi.advanceTimersByTimeAsync(2)
    expect(commits.at(-1)).toEqual({ at: start + 52, bytes: [2] })
    await expect(waited).resolves.toBe(2)
  })

  it('an append someone waits for takes the background ones queued before it along, at its own deadline', async () => {
    const { group, commits } = harness({ groupCommitMs: 2, backgroundCommitMs: 50 })
    const first = group.append(entry(1), { background: true })
    await vi.advanceTimersByTimeAsync(10)
    const second = group.append(entry(2), { background: true })
    const waited = group.append(entry(3))
    await vi.advanceTimersByTimeAsync(2)
    expect(commits).toEqual([{ at: start + 12, bytes: [1, 2, 3] }])
    await expect(Promise.all([first, second, waited])).resolves.toEqual([1, 2, 3])
    // Nothing is left for the background deadline the first append armed.
    await vi.advanceTimersByTimeAsync(100)
    expect(commits).toHaveLength(1)
  })

  it('background appends after a commit wait for their own deadline, not the earlier one', async () => {
    const { group, commits } = harness({ groupCommitMs: 2, backgroundCommitMs: 50 })
    void group.append(entry(1))
    await vi.advanceTimersByTimeAsync(2)
    void group.append(entry(2), { background: true })
    await vi.advanceTimersByTimeAsync(49)
    expect(commits.map((c) => c.bytes)).toEqual([[1]])
    await vi.advanceTimersByTimeAsync(1)
    expect(commits).toEqual([
      { at: start + 2, bytes: [1] },
      { at: start + 52, bytes: [2] },
    ])
  })

  it('flush commits background appends at once', async () => {
    const { group, commits } = harness({ groupCommitMs: 2, backgroundCommitMs: 50 })
    void group.append(entry(1), { background: true })
    const flushed = group.flush()
    await vi.advanceTimersByTimeAsync(0)
    await flushed
    expect(commits).toEqual([{ at: start, bytes: [1] }])
  })

  it('never holds a background append for less than groupCommitMs', async () => {
    const { group, commits } = harness({ groupCommitMs: 20, backgroundCommitMs: 5 })
    void group.append(entry(1), { background: true })
    await vi.advanceTimersByTimeAsync(19)
    expect(commits).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(commits).toEqual([{ at: start + 20, bytes: [1] }])
  })
})
