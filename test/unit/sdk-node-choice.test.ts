/**
 * The SDK's choice of node and its waits (client/src/node-choice.ts), on seeded randomness: full-jitter
 * bounds, rotation away from a node that cannot be reached, a second chance for one that only dropped a
 * connection, preference for nodes without recent failures, and no herd: the clients of a dead node
 * spread over the live ones, in time and across nodes. Then the same through `Connection` on fake sockets.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MessageType, decodeMessage, encodeMessage } from '../../shared/dist/index.js'
import { FAILURE_MEMORY_MS, NodeChoice, RetryReason } from '../../client/dist/node-choice.js'
import { Connection, type ConnectionDetail, type WebSocketConstructor } from '../../client/dist/connection.js'
import { silentLogger } from '../../client/dist/index.js'
import { mulberry32 as seeded } from '../cluster/sim/network.js'


const URLS = ['ws://a/sync', 'ws://b/sync', 'ws://c/sync', 'ws://d/sync']

/** A client connected to `urls[at]` (and welcomed there); the failures on the way are long forgotten. */
function connectedTo(at: number, random: () => number, urls = URLS): NodeChoice {
  const choice = new NodeChoice(urls, { initialMs: 100, maxMs: 1600, random })
  for (let i = 0; choice.url !== urls[at]; i++) {
    if (i > 100) throw new Error('never reached the node')
    choice.retry(RetryReason.unreachable, -10 * FAILURE_MEMORY_MS)
  }
  choice.connected()
  return choice
}

describe('NodeChoice', () => {
  it('waits are full jitter: between 0 and a ceiling that doubles after each full round over the nodes, up to the cap', () => {
    const random = seeded(1)
    for (const n of [1, 3]) {
      const waits: number[][] = []
      for (let run = 0; run < 400; run++) {
        const choice = new NodeChoice(URLS.slice(0, n), { initialMs: 100, maxMs: 1600, random })
        waits.push(Array.from({ length: 8 * n }, () => choice.retry(RetryReason.unreachable, 0)))
      }
      for (let k = 0; k < 8 * n; k++) {
        const ceiling = Math.min(1600, 100 * 2 ** Math.floor(k / n))
        const at = waits.map((w) => w[k])
        expect(Math.min(...at)).toBeGreaterThanOrEqual(0)
        expect(Math.max(...at)).toBeLessThan(ceiling)
        // Spread over the whole range, not bunched at its top (as half jitter would be) or at one value.
        expect(Math.min(...at)).toBeLessThan(ceiling * 0.1)
        expect(Math.max(...at)).toBeGreaterThan(ceiling * 0.9)
      }
    }
  })

  it('a node that cannot be reached is left for another; with one node the client stays on it', () => {
    const random = seeded(2)
    for (let run = 0; run < 200; run++) {
      const choice = new NodeChoice(URLS, { random })
      const seen: string[] = [choice.url]
      for (let i = 0; i < 12; i++) {
        const before = choice.url
        choice.retry(RetryReason.unreachable, i)
        expect(choice.url).not.toBe(before)
        seen.push(choice.url)
      }
      // Every node is tried within each round: none waits for more than one round behind the others.
      expect(new Set(seen.slice(0, 4)).size).toBe(4)
    }
    const single = new NodeChoice(['ws://only/sync'], { random })
    single.retry(RetryReason.unreachable, 0)
    expect(single.url).toBe('ws://only/sync')
  })

  it('a welcomed connection that drops gets one more attempt on its node; the next failure moves on', () => {
    const random = seeded(3)
    const choice = connectedTo(1, random)
    choice.retry(RetryReason.dropped, 0)
    expect(choice.url).toBe(URLS[1])
    choice.retry(RetryReason.unreachable, 10)
    expect(choice.url).not.toBe(URLS[1])
    // A drop without a welcome in between is no blip: the client moves at once.
    const again = connectedTo(2, random)
    again.retry(RetryReason.dropped, 0)
    again.retry(RetryReason.dropped, 10)
    expect(again.url).not.toBe(URLS[2])
    // A node that says it is stopping is left at once.
    const stopping = connectedTo(0, random)
    stopping.retry(RetryReason.stopping, 0)
    expect(stopping.url).not.toBe(URLS[0])
    // A retry for a new token stays.
    const token = connectedTo(3, random)
    token.retry(RetryReason.again, 0)
    expect(token.url).toBe(URLS[3])
  })

  it('prefers nodes without recent failures, and forgets failures after a while', () => {
    const random = seeded(4)
    /** From a, fail a (stopping) and then x (unreachable), and get welcomed on y; at `now`. */
    const failTwo = (now: number) => {
      const choice = connectedTo(0, random)
      choice.retry(RetryReason.stopping, now)
      const x = choice.url
      choice.retry(RetryReason.unreachable, now)
      const y = choice.url
      expect([URLS[0], x]).not.toContain(y)
      choice.connected()
      return { choice, x, y }
    }
    for (let run = 0; run < 100; run++) {
      // a and x failed just now: when y stops, the client goes to the one node that has not failed.
      const { choice, x, y } = failTwo(1000)
      choice.retry(RetryReason.stopping, 2000)
      expect(choice.url).toBe(URLS.find((u) => ![URLS[0], x, y].includes(u)))
    }
    // Long after a and x failed they count as healthy again: any node but y may be chosen.
    const picks = new Map<string, number>()
    for (let run = 0; run < 300; run++) {
      const { choice, x, y } = failTwo(0)
      choice.retry(RetryReason.stopping, FAILURE_MEMORY_MS + 1)
      const kind = choice.url === URLS[0] || choice.url === x ? 'failed long ago' : choice.url === y ? 'same' : 'never failed'
      picks.set(kind, (picks.get(kind) ?? 0) + 1)
    }
    expect(picks.get('same')).toBeUndefined()
    expect(picks.get('failed long ago')).toBeGreaterThan(150)
  })

  it('starts on the node asked for; a new list takes effect from the next move, the node in use stays', () => {
    const random = seeded(8)
    for (let run = 0; run < 50; run++) expect(new NodeChoice(URLS, { random, start: URLS[2] }).url).toBe(URLS[2])
    const choice = connectedTo(0, random, URLS.slice(0, 2))
    const added = 'ws://e/sync'
    choice.setUrls([URLS[1], added])
    expect(choice.url).toBe(URLS[0])
    const next = new Set<string>()
    for (let run = 0; run < 100; run++) {
      const c = connectedTo(0, random, URLS.slice(0, 2))
      c.setUrls([URLS[1], added])
      c.retry(RetryReason.stopping, 0)
      next.add(c.url)
    }
    // Off the unlisted node for good: to either listed one, the added one included.
    expect([...next].sort()).toEqual([URLS[1], added].sort())
    expect(() => choice.setUrls([])).toThrow(TypeError)
  })

  it('no herd: the clients of a dead node spread evenly over the live nodes, and over the first backoff step', () => {
    const random = seeded(5)
    const clients = Array.from({ length: 3000 }, () => connectedTo(0, random))
    const landed = new Map<string, number>()
    const waits: number[] = []
    for (const c of clients) {
      // The socket drops when the node dies; the one more attempt there is refused.
      waits.push(c.retry(RetryReason.dropped, 5000))
      waits.push(c.retry(RetryReason.unreachable, 5000 + waits[waits.length - 1]))
      landed.set(c.url, (landed.get(c.url) ?? 0) + 1)
    }
    expect(landed.get(URLS[0])).toBeUndefined()
    for (const url of URLS.slice(1)) {
      expect(landed.get(url)).toBeGreaterThan(3000 / 3 - 150)
      expect(landed.get(url)).toBeLessThan(3000 / 3 + 150)
    }
    // Each of ten slices of the 100 ms step holds about a tenth of the retries: nothing bunches up.
    const slices = Array.from({ length: 10 }, () => 0)
    for (const w of waits) slices[Math.floor(w / 10)]++
    for (const s of slices) expect(s).toBeGreaterThan(waits.length / 10 - 120)
    for (const s of slices) expect(s).toBeLessThan(waits.length / 10 + 120)
    // And fresh clients start spread over every node.
    const first = new Map<string, number>()
    for (let i = 0; i < 4000; i++) {
      const url = new NodeChoice(URLS, { random }).url
      first.set(url, (first.get(url) ?? 0) + 1)
    }
    for (const url of URLS) expect(first.get(url)).toBeGreaterThan(850)
  })
})

/** Fake nodes by URL, each up or down; a socket to a down node fails as a refused connection does. */
function fakeNodes(urls: readonly string[]) {
  const up = new Map(urls.map((u) => [u, true]))
  const open = new Map<string, FakeSocket[]>()
  class FakeSocket {
    binaryType = 'arraybuffer'
    readyState = 0
    readonly bufferedAmount = 0
    onopen: ((ev: unknown) => void) | null = null
    onclose: ((ev: { code: number; reason: string }) => void) | null = null
    onmessage: ((ev: { data: unknown }) => void) | null = null
    onerror: ((ev: unknown) => void) | null = null

    constructor(readonly url: string) {
      queueMicrotask(() => {
        if (up.get(url) !== true) {
          this.readyState = 3
          this.onclose?.({ code: 1006, reason: '' })
          return
        }
        open.set(url, [...(open.get(url) ?? []), this])
        this.readyState = 1
        this.onopen?.({})
      })
    }

    send(data: Uint8Array): void {
      if (decodeMessage(data).type !== MessageType.hello) return
      const nodeId = new URL(this.url).host
      queueMicrotask(() => this.onmessage?.({ data: encodeMessage({ type: MessageType.welcome, major: 1, minor: 0, nodeId }).slice().buffer }))
    }

    close(): void {
      this.readyState = 3
    }
  }
  /** The node dies: refused from now on, and its sockets drop. */
  const kill = (url: string): void => {
    up.set(url, false)
    for (const s of open.get(url) ?? []) s.onclose?.({ code: 1006, reason: '' })
    open.delete(url)
  }
  return { kill, WebSocket: FakeSocket as unknown as WebSocketConstructor }
}

describe('Connection over several nodes', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('moves to a live node when its node dies, and says which node it is on', async () => {
    vi.useFakeTimers()
    const nodes = fakeNodes(URLS.slice(0, 3))
    const conn = new Connection({ urls: URLS.slice(0, 3), WebSocket: nodes.WebSocket, getToken: () => '', clientName: 'test', log: silentLogger, random: seeded(6) })
    const events: [string, ConnectionDetail][] = []
    conn.on('state', (state, detail) => events.push([state, detail]))
    conn.start()
    await vi.advanceTimersByTimeAsync(10)
    expect(conn.state).toBe('open')
    const first = conn.url
    expect(events.at(-1)).toEqual(['open', { url: first, nodeId: new URL(first).host }])
    nodes.kill(first)
    await vi.advanceTimersByTimeAsync(2000)
    expect(conn.state).toBe('open')
    expect(conn.url).not.toBe(first)
    expect(conn.nodeId).toBe(new URL(conn.url).host)
    expect(events.at(-1)).toEqual(['open', { url: conn.url, nodeId: conn.nodeId }])
    // It tried the dead node once more (the second chance), then moved.
    const tries = events.filter(([s]) => s === 'connecting').map(([, d]) => d.url)
    expect(tries).toContain(first)
    conn.close()
  })

  it('a node that accepts the socket but never welcomes is left after the connect timeout', async () => {
    vi.useFakeTimers()
    const nodes = fakeNodes(URLS.slice(0, 2))
    class Silent {
      binaryType = 'arraybuffer'
      readyState = 1
      readonly bufferedAmount = 0
      onopen: ((ev: unknown) => void) | null = null
      onclose: ((ev: { code: number; reason: string }) => void) | null = null
      onmessage: ((ev: { data: unknown }) => void) | null = null
      onerror: ((ev: unknown) => void) | null = null
      private readonly inner: InstanceType<WebSocketConstructor> | null
      constructor(url: string) {
        // Node a answers nothing at all; node b is a normal node.
        this.inner = url === URLS[0] ? null : new nodes.WebSocket(url)
        if (this.inner === null) return
        const inner = this.inner
        inner.onopen = (ev) => this.onopen?.(ev)
        inner.onmessage = (ev) => this.onmessage?.(ev)
        inner.onclose = (ev) => this.onclose?.(ev)
      }
      send(data: Uint8Array): void {
        this.inner?.send(data)
      }
      close(): void {}
    }
    // The seeded choice starts on a (checked below).
    const conn = new Connection({ urls: URLS.slice(0, 2), WebSocket: Silent as unknown as WebSocketConstructor, getToken: () => '', clientName: 'test', log: silentLogger, random: () => 0, connectTimeoutMs: 1000 })
    conn.start()
    expect(conn.url).toBe(URLS[0])
    await vi.advanceTimersByTimeAsync(900)
    expect(conn.state).toBe('connecting')
    await vi.advanceTimersByTimeAsync(1200)
    expect(conn.state).toBe('open')
    expect(conn.url).toBe(URLS[1])
    conn.close()
  })
})
