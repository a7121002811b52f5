import net from 'node:net'
import { onTestFinished } from 'vitest'

export type ProxyMode =
  | { readonly kind: 'pass' }
  /** Accept and read, deliver nothing, answer nothing. */
  | { readonly kind: 'blackhole' }
  /** Hold every chunk this long before passing it on. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** At most this many bytes per second in each direction. */
  | { readonly kind: 'throttle'; readonly bytesPerSecond: number }

/**
 * A fault-injecting TCP proxy on loopback for tests: pass, blackhole, delay, throttle, and `reset()` of
 * every live connection. Counts the connections it accepted (a reconnect loop shows up there).
 */
export class TcpProxy {
  private server: net.Server
  private readonly links = new Set<{ client: net.Socket; upstream: net.Socket }>()
  mode: ProxyMode = { kind: 'pass' }
  accepted = 0
  port = 0

  private constructor(private targetPort: number) {
    this.server = net.createServer((client) => this.accept(client))
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort)
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    proxy.port = (proxy.server.address() as net.AddressInfo).port
    onTestFinished(() => proxy.close())
    return proxy
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Point at another port (a restarted node). */
  retarget(port: number): void {
    this.targetPort = port
  }

  /** Destroy every live connection with a TCP reset. */
  reset(): void {
    for (const l of this.links) {
      l.client.resetAndDestroy()
      l.upstream.resetAndDestroy()
    }
    this.links.clear()
  }

  async close(): Promise<void> {
    this.reset()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: net.Socket): void {
    this.accepted++
    const upstream = net.connect(this.targetPort, '127.0.0.1')
    const link = { client, upstream }
    this.links.add(link)
    const drop = (): void => {
      this.links.delete(link)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    this.pipe(client, upstream)
    this.pipe(upstream, client)
  }

  private pipe(from: net.Socket, to: net.Socket): void {
    // Per-direction queue so that delay and throttle keep byte order.
    const queue: Buffer[] = []
    let draining = false
    let budgetAt = Date.now()
    const drain = (): void => {
      if (draining) return
      draining = true
      const step = (): void => {
        const chunk = queue.shift()
        if (chunk === undefined || to.destroyed) {
          draining = false
          if (from.isPaused()) from.resume()
          return
        }
        const mode = this.mode
        if (mode.kind === 'blackhole') {
          queue.length = 0
          draining = false
          return
        }
        let wait = 0
        let piece = chunk
        if (mode.kind === 'delay') wait = mode.ms
        if (mode.kind === 'throttle') {
          // Send at most a tenth of a second's budget at a time.
          const slice = Math.max(1, Math.floor(mode.bytesPerSecond / 10))
          if (chunk.length > slice) {
            piece = chunk.subarray(0, slice)
            queue.unshift(chunk.subarray(slice))
          }
          budgetAt = Math.max(budgetAt, Date.now()) + (piece.length / mode.bytesPerSecond) * 1000
          wait = Math.max(0, budgetAt - Date.now())
        }
        const send = (): void => {
          if (!to.destroyed) to.write(piece)
          step()
        }
        if (wait > 0) setTimeout(send, wait)
        else send()
      }
      step()
    }
    from.on('data', (data: Buffer) => {
      if (this.mode.kind === 'blackhole') return
      queue.push(data)
      // Backpressure: stop reading while a slow direction has a backlog.
      if (queue.length > 64) from.pause()
      drain()
    })
  }
}
