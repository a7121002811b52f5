import { SETTINGS, loadConfig, startServer } from '@murmur/server'
import { childOptions, runChild } from './child.js'

/**
 * A Murmur node under test, configured from CLI flags exactly as `murmur serve` is (environment
 * variables are not read, so the caller's shell cannot change what is measured).
 */
const options = childOptions<{ port?: number; args?: string[] }>()
/** The peers check no tokens; neither does Murmur here (on builds that have auth, it is switched off). */
const anonymous = SETTINGS.some((s) => s.flag === 'anonymous') ? ['--anonymous'] : []

void runChild(async () => {
  const config = loadConfig(['--host', '127.0.0.1', '--port', String(options.port ?? 0), '--log-level', 'warn', ...anonymous, ...(options.args ?? [])], {})
  config.staticDir = null
  const server = await startServer(config)
  return { server: { port: server.port, close: () => server.close() }, description: server.storage.description }
})
