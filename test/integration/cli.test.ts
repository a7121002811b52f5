import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { SETTINGS } from '../../server/dist/index.js'
import { spawnNode, startTestServer, wsUrl } from '../support/servers.js'
import { firstLine, postUpdate, runCli, textUpdate } from '../support/cli.js'
import { eventually } from '../support/wait.js'

/** The operator's view of `murmur`: help, version, and one clear line with a non-zero exit for every failed start. */
describe('murmur CLI', () => {
  it('murmur --help, murmur serve --help and murmur --version print and exit 0', async () => {
    const help = await runCli(['--help'])
    expect(help.code).toBe(0)
    expect(firstLine(help.stdout)).toBe('usage: murmur <command> [flags]')

    const serveHelp = await runCli(['serve', '--help'])
    expect(serveHelp.code).toBe(0)
    expect(firstLine(serveHelp.stdout)).toBe('usage: murmur serve [flags]')
    for (const s of SETTINGS) {
      expect(serveHelp.stdout).toContain(`--${s.flag}`)
      expect(serveHelp.stdout).toContain(s.env)
    }

    const version = await runCli(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout).toBe('murmur 0.1.0\n')
  })

  it.each([
    [['serve', '--anonymous', '--prot', '1'], 'murmur: unknown flag --prot; run "murmur serve --help" for the flags'],
    [['serve', '--anonymous', '--port'], 'murmur: --port needs a value; run "murmur serve --help" for the flags'],
    [['serve', '--anonymous', '--port', 'eighty'], 'murmur: --port must be a non-negative integer, got "eighty"'],
    [['serve', '--anonymous', '--log-level', 'loud'], 'murmur: --log-level must be one of fatal, error, warn, info, debug, trace, silent; got "loud"'],
    [['serve', '--anonymous', '--storage', 'mongodb://db/x'], 'murmur: --storage must be sqlite, memory or a postgres:// URL; got "mongodb://db/x"'],
    [['serve', '--anonymous', '--storage', 'postgres://u:p@[bad/db'], 'murmur: --storage is not a valid URL; expected postgres://user@host:port/db[?schema=name]'],
    [['serve', '--port', '0'], 'murmur: no authentication configured: give --auth-secret, --auth-public-key, --auth-jwks or --auth-jwks-url (see docs/operations.md), or --anonymous to let anyone read and write every doc (development only)'],
    [['frobnicate'], 'murmur: unknown command "frobnicate"; run "murmur --help" for the commands'],
  ])('a bad command line %j: one line, exit 2, no stack', async (args, line) => {
    const run = await runCli(args)
    expect(run.code).toBe(2)
    expect(firstLine(run.stderr)).toBe(line)
    expect(run.stderr).toBe(line + '\n')
  })

  it('start failures are one line naming the flag, exit 1; --log-level debug adds the stack', async () => {
    const taken = await startTestServer()
    const inUse = await runCli(['serve', '--anonymous', '--host', '127.0.0.1', '--port', String(taken.port), '--storage', 'memory'])
    expect(inUse.code).toBe(1)
    expect(inUse.stderr).toBe(`murmur: --port ${taken.port}: 127.0.0.1:${taken.port} is already in use; stop what listens there or pick another --port\n`)

    const debug = await runCli(['serve', '--anonymous', '--host', '127.0.0.1', '--port', String(taken.port), '--storage', 'memory', '--log-level', 'debug'])
    expect(debug.code).toBe(1)
    expect(firstLine(debug.stderr)).toBe(`murmur: --port ${taken.port}: 127.0.0.1:${taken.port} is already in use; stop what listens there or pick another --port`)
    expect(debug.stderr).toMatch(/\n\s+at /u)

    const dir = await runCli(['serve', '--anonymous', '--port', '0', '--data-dir', '/dev/null/murmur'])
    expect(dir.code).toBe(1)
    expect(dir.stderr).toBe('murmur: --data-dir /dev/null/murmur: cannot create it (ENOTDIR); pick a folder this user may write to\n')

    const host = await runCli(['serve', '--anonymous', '--port', '0', '--storage', 'memory', '--host', '192.0.2.1'])
    expect(host.code).toBe(1)
    expect(host.stderr).toBe('murmur: --host 192.0.2.1: not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses\n')

    const pg = await runCli(['serve', '--anonymous', '--port', '0', '--storage', 'postgres://murmur:secret@127.0.0.1:1/test'])
    expect(pg.code).toBe(1)
    expect(pg.stderr).toBe('murmur: --storage postgres://127.0.0.1:1/test: cannot connect to PostgreSQL (connect ECONNREFUSED 127.0.0.1:1); check the URL and that the server is running\n')
  })

  it('the banner lists every endpoint; log lines carry one msg; requests are logged at debug only', async () => {
    const info = await spawnNode(['--port', '0', '--storage', 'memory', '--log-level', 'info'])
    const ws = info.url.replace('http', 'ws')
    const endpoints = info.output.find((l) => l.includes('endpoints:')) ?? ''
    for (const e of [`${ws}/sync`, `${ws}/yjs/<doc>`, `${ws}/automerge`, `${info.url}/v1/docs`, `${info.url}/metrics`, `${info.url}/healthz`, `${info.url}/readyz`]) expect(endpoints).toContain(e)
    expect(await postUpdate(info.url, 'logged', textUpdate('x'))).toBe(200)

    const debug = await spawnNode(['--port', '0', '--storage', 'memory', '--log-level', 'debug'])
    expect(await postUpdate(debug.url, 'logged', textUpdate('x'))).toBe(200)
    // A socket refused for its doc id: the close is logged at debug with its reason.
    const refused = new WebSocket(wsUrl(debug.url, `/yjs/${'x'.repeat(257)}`))
    refused.on('error', () => undefined)
    await new Promise((resolve) => refused.once('close', resolve))
    await eventually(async () => debug.output.some((l) => l.includes('"closing socket"')) && debug.output.some((l) => l.includes('"request completed"')), 10_000, 'debug log lines')

    const json = debug.output.filter((l) => l.startsWith('{'))
    for (const line of json) expect(line.match(/"msg":/gu)?.length, line).toBe(1)
    expect(json.find((l) => l.includes('"request completed"'))).toMatch(/"level":20,.*"method":"POST","url":"\/v1\/docs\/yjs\/logged\/updates","status":200/u)
    expect(info.output.join('\n')).not.toContain('request completed')
    expect(info.output.join('\n')).not.toContain('incoming request')
  })

  it('a history version past the last entry is 404', async () => {
    const server = await startTestServer()
    expect(await postUpdate(server.url, 'versions', textUpdate('one'))).toBe(200)
    const ok = await fetch(`${server.url}/v1/docs/yjs/versions/history/1`)
    expect(ok.status).toBe(200)
    expect((await ok.json()).content).toEqual({ t: 'one' })
    const missing = await fetch(`${server.url}/v1/docs/yjs/versions/history/999`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ code: 'MUR_ERR_VERSION_NOT_FOUND', message: 'yjs:versions has no version 999 (its last is 1)' })
    expect((await fetch(`${server.url}/v1/docs/yjs/never-written/history/1`)).status).toBe(404)
  })
})
