import { readFileSync } from 'node:fs'
import { SETTINGS } from '../config.js'

/** `murmur --help`. */
export const USAGE = `usage: murmur <command> [flags]

Commands:
  serve        run a node (murmur serve --help lists its flags)
  backup       back up a node's store, running or not (murmur backup --help)
  restore      restore a backup into an empty store

Flags:
  --help, -h   print this help
  --version    print the version
`

/** `murmur serve --help`: every flag with its environment variable. */
export const SERVE_USAGE = `usage: murmur serve [flags]

Flags (each also read from its environment variable; a flag wins over its variable):
${SETTINGS.map((s) => `  --${s.flag.padEnd(32)} ${s.env.padEnd(40)} ${s.help}`).join('\n')}
  --help, -h                       print this help
`

/** The version of the server package, read next to the built files. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return typeof pkg.version === 'string' ? pkg.version : 'unknown'
}

/** The lines of the start banner: where the node listens, what it stores in, and every endpoint. */
export function banner(info: {
  nodeId: string
  url: string
  storage: string
  auth: string
  demo: string | null
  tracing: string
  hocuspocusPath: string | null
}): string {
  const ws = info.url.replace(/^http/u, 'ws')
  return (
    `Murmur node ${JSON.stringify(info.nodeId)} listening on ${info.url}\n` +
    `  storage: ${info.storage}\n` +
    `  auth: ${info.auth}\n` +
    `  tracing: ${info.tracing}\n` +
    `  demo app: ${info.demo ?? '(not built: npm run build)'}\n` +
    `  endpoints: ${ws}/sync (Murmur SDK), ${ws}/yjs/<doc> (y-websocket), ${ws}/automerge (automerge-repo), ` +
    (info.hocuspocusPath === null ? '' : `${ws}${info.hocuspocusPath} (Hocuspocus provider), `) +
    `${info.url}/v1/docs (HTTP API), ${info.url}/metrics, ${info.url}/healthz, ${info.url}/readyz\n`
  )
}
