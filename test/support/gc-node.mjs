/**
 * A Murmur node in its own process whose memory can be measured after a full GC: run with
 * `node --expose-gc gc-node.mjs '<config JSON>'`. It prints "listening on <url>"; each "gc" line on stdin
 * is answered with one JSON line of process.memoryUsage() taken after two collections.
 */
import { createInterface } from 'node:readline'
import { startServer } from '../../server/dist/index.js'

const server = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'error', anonymous: true, ...JSON.parse(process.argv[2] ?? '{}') })
process.stdout.write(`listening on ${server.url}\n`)
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'gc') return
  globalThis.gc()
  globalThis.gc()
  const m = process.memoryUsage()
  process.stdout.write(JSON.stringify({ heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss }) + '\n')
})
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)))
