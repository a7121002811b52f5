import { SETTINGS, loadConfig, startServer } from '@murmur/server'
import { childOptions, runChild } from './child.js'

/**
 * A Murmur node under test, configured from CLI flags exactly as `murmur serve` is (environment
 * variables are not read, so the caller's shell cannot change what is measured).
 */
const options = childOptions<{ port?: number; args?: string[] }>()
const flags = new Set(SETTINGS.map((s) => s.flag))
/** The peers check no tokens; neither does Murmur here (on builds that have auth, it is switched off). */
const anonymous = flags.has('anonymous') ? ['--anonymous'] : []
/**
 * All load comes from one address (loopback) and the peers limit nothing: Murmur's per-socket and per-IP
 * rate limits (0 = unlimited) are off, or they, not the server, would be measured.
 */
const unlimited = ['max-messages-per-second', 'ip-connections-per-second', 'http-requests-per-minute']
  .filter((flag) => flags.has(flag))
  .flatMap((flag) => [`--${flag}`, '0'])

void runChild(async () => {
  const config = loadConfig(['--host', '127.0.0.1', '--port', String(options.port ?? 0), '--log-level', 'warn', ...anonymous, ...unlimited, ...(options.args ?? [])], {})
  config.staticDir = null
  const server = await startServer(config)
  return { server: { port: server.port, close: () => server.close() }, description: server.storage.description }
})
