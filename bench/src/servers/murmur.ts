import { loadConfig, startServer } from '@murmur/server'
import { childOptions, runChild } from './child.js'

/**
 * A Murmur node under test, configured from CLI flags exactly as `murmur serve` is (environment
 * variables are not read, so the caller's shell cannot change what is measured).
 */
const options = childOptions<{ port?: number; args?: string[] }>()

void runChild(async () => {
  const config = loadConfig(['--host', '127.0.0.1', '--port', String(options.port ?? 0), '--log-level', 'warn', ...(options.args ?? [])], {})
  config.staticDir = null
  const server = await startServer(config)
  return { server: { port: server.port, close: () => server.close() }, description: server.storage.description }
})
