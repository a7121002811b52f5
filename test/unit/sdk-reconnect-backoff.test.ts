/**
 * The SDK's retry schedule, on a fake clock: a node that says it is stopping (close 1001) is retried at
 * the first backoff step while it restarts, so clients are back within one step of it listening; a
 * connection that just dropped backs off exponentially as before.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MessageType, decodeMessage, encodeMessage } from '../../shared/dist/index.js'
import { Connection, RESTART_WINDOW_MS, type WebSocketConstructor } from '../../client/dist/connection.js'
import { silentLogger } from '../../client/dist/index.js'
import { mulberry32 as seeded } from '../cluster/sim/network.js'

/** A server that is up or down; sockets opened while it is down fail at once, as a refused connection does. */
function fakeServer() {
  const state = { up: true, attempts: [] as number[], sockets: [] as FakeSocket[] }
  class FakeSocket {
    binaryType = 'arraybuffer'
    readyState = 0
    readonly bufferedAmount = 0
    onopen: ((ev: unknown) => void) | null = null
    onclose: ((ev: { code: number; reason: string }) => void) | null = null
    onmessage: ((ev: { data: unknown }) => void) | null = null
    onerror: ((ev: unknown) => void) | null = null

    constructor() {
      state.attempts.push(Date.now())
      state.sockets.push(this)
      // Settled after the constructor returns, as a real socket's first event is.
      queueMicrotask(() => {
        if (!state.up) {
          this.readyState = 3
          this.onclose?.({ code: 1006, reason: '' })
          return
        }
        this.readyState = 1
        this.onopen?.({})
      })
    }

    send(data: Uint8Array): void {
      if (decodeMessage(data).type === MessageType.hello) {
        queueMicrotask(() => this.onmessage?.({ data: encodeMessage({ type: MessageType.welcome, major: 1, minor: 0, nodeId: 'n1' }).slice().buffer }))
      }
    }

    close(): void {
      this.readyState = 3
    }

    /** The server ends the connection. */
    drop(code: number): void {
      this.readyState = 3
      this.onclose?.({ code, reason: '' })
    }
  }
  return { state, WebSocket: FakeSocket as unknown as WebSocketConstructor }
}


async function openConnection(server: ReturnType<typeof fakeServer>): Promise<Connection> {
  const conn = new Connection({ url: 'ws://node', WebSocket: server.WebSocket, getToken: () => '', clientName: 'test', log: silentLogger, random: seeded(7) })
  conn.start()
  await vi.advanceTimersByTimeAsync(10)
  expect(conn.state).toBe('open')
  return conn
}

/** Drop the open socket with `code`, keep the server down for `downMs`, and return the retries and the time back. */
async function outage(code: number, downMs: number): Promise<{ gaps: number[]; backAfterUp: number }> {
  const server = fakeServer()
  const conn = await openConnection(server)
  const droppedAt = Date.now()
  server.state.up = false
  server.state.sockets[server.state.sockets.length - 1].drop(code)
  await vi.advanceTimersByTimeAsync(downMs)
  server.state.up = true
  const upAt = Date.now()
  let step = 0
  while (conn.state !== 'open' && step++ < 20_000) await vi.advanceTimersByTimeAsync(1)
  const attempts = server.state.attempts.filter((t) => t >= droppedAt)
  const gaps = attempts.slice(1).map((t, i) => t - attempts[i])
  conn.close()
  return { gaps, backAfterUp: Date.now() - upAt }
}

describe('SDK reconnect schedule', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('after a close 1001 (node stopping), retries stay at the first step while the node restarts', async () => {
    const { gaps, backAfterUp } = await outage(1001, 3000)
    // 250 ms first step, jittered between 0 and 250 ms.
    expect(gaps.length).toBeGreaterThanOrEqual(11)
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(252)
    expect(backAfterUp).toBeLessThanOrEqual(260)
  })

  it('after a dropped connection, retries back off exponentially as before', async () => {
    const { gaps, backAfterUp } = await outage(1006, 3000)
    expect(gaps.length).toBeLessThanOrEqual(5)
    expect(Math.max(...gaps)).toBeGreaterThan(500)
    expect(backAfterUp).toBeGreaterThan(0)
  })

  it('goes back to exponential backoff once the restart window has passed', async () => {
    const { gaps } = await outage(1001, RESTART_WINDOW_MS + 4000)
    const late = gaps.slice(-2)
    expect(Math.max(...late)).toBeGreaterThan(500)
  })
})
