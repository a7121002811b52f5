import net from 'node:net'

/**
 * A TCP relay on loopback that counts the bytes it carries, both ways. Placed between cluster nodes, it
 * measures what anti-entropy and replication cost on the wire, whatever protocol they speak.
 */
export class CountingProxy {
  bytes = 0
  private readonly sockets = new Set<net.Socket>()

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CountingProxy> {
    let proxy: CountingProxy | null = null
    const server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1')
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        proxy?.sockets.add(from)
        from.setNoDelay(true)
        from.on('data', (chunk: Buffer) => {
          if (proxy !== null) proxy.bytes += chunk.length
          if (!to.write(chunk)) {
            from.pause()
            to.once('drain', () => from.resume())
          }
        })
        from.on('close', () => {
          proxy?.sockets.delete(from)
          to.destroy()
        })
        from.on('error', () => to.destroy())
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    proxy = new CountingProxy(server, typeof address === 'object' && address !== null ? address.port : 0)
    return proxy
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** A port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => resolve(port))
    })
  })
}
