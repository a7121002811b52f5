import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { MurmurServer } from '../../server/dist/index.js'
import { FAST, SECRET, startCluster, untilMeshed } from '../support/cluster.js'
import { firstLine, runCli } from '../support/cli.js'
import { startTestServer, tempDir } from '../support/servers.js'
import { eventually } from '../support/wait.js'

interface Pki {
  readonly ca: string
  readonly cert: string
  readonly key: string
  /** A key that does not belong to `cert`. */
  readonly otherKey: string
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
}

/** A throwaway CA and a certificate it signed for 127.0.0.1, made with openssl in a temp folder. */
function makePki(): Pki {
  const dir = tempDir('murmur-pki-')
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=murmur test CA')
  openssl(dir, 'req', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1')
  openssl(dir, 'x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '2', '-extfile', 'san.ext')
  openssl(dir, 'genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'other.key')
  const at = (f: string): string => path.join(dir, f)
  return { ca: at('ca.pem'), cert: at('node.pem'), key: at('node.key'), otherKey: at('other.key') }
}

/** An HTTPS request to a node that trusts only `ca`. */
function request(url: string, ca: Buffer, method: string, body?: Uint8Array): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: body === undefined ? {} : { 'content-type': 'application/octet-stream' } }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }))
    })
    req.on('error', reject)
    req.end(body === undefined ? undefined : Buffer.from(body))
  })
}

function textOf(state: Buffer): string {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(state))
  return doc.getText('t').toString()
}

describe('TLS: nodes serve HTTPS/WSS and link over wss:// with the operator’s CA', () => {
  it('three nodes mesh over wss:// and replicate a write made over HTTPS', async () => {
    const pki = makePki()
    const tls = { tlsCert: pki.cert, tlsKey: pki.key, peerCa: pki.ca }
    const nodes: MurmurServer[] = await startCluster(3, tls)
    for (const n of nodes) expect(n.url).toMatch(/^https:\/\/127\.0\.0\.1:/u)
    await untilMeshed(nodes)
    for (const m of nodes[0].cluster!.membership.members()) expect(m.url).toMatch(/^wss:\/\//u)
    const ca = readFileSync(pki.ca)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'over tls')
    const posted = await request(`${nodes[0].url}/v1/docs/yjs/secured/updates`, ca, 'POST', Y.encodeStateAsUpdate(doc))
    expect(posted.status).toBe(200)
    for (const n of nodes.slice(1)) {
      await eventually(async () => {
        const got = await request(`${n.url}/v1/docs/yjs/secured/state`, ca, 'GET')
        return got.status === 200 && textOf(got.body) === 'over tls'
      }, 15_000, `the write on ${n.cluster!.self}`)
    }
  })

  it('outgoing wss:// links verify the other node’s certificate: without --peer-ca nothing links, and the log says why', async () => {
    const pki = makePki()
    const [a] = await startCluster(1, { tlsCert: pki.cert, tlsKey: pki.key, peerCa: pki.ca })
    const lines: string[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    const noCa = await startTestServer(
      { ...FAST, nodeId: 'no-ca', clusterSecret: SECRET, tlsCert: pki.cert, tlsKey: pki.key, peers: [a.url.replace(/^https/u, 'wss')] },
      { logger: pino({ level: 'warn' }, sink) },
    )
    await eventually(async () => lines.some((l) => l.includes('TLS failed') && l.includes('--peer-ca')), 15_000, 'the TLS failure logged')
    expect(noCa.cluster!.links.connectedPeers()).toEqual([])
    expect(a.cluster!.links.connectedPeers()).toEqual([])
  })

  it('a TLS file that is missing or does not fit is a one-line start error', async () => {
    const pki = makePki()
    const missing = await runCli(['serve', '--anonymous', '--port', '0', '--storage', 'memory', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', pki.key])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(firstLine(missing.stderr)).toBe('murmur: --tls-cert /nonexistent/cert.pem: cannot read the certificate (ENOENT); check the path and its permissions')
    const mismatch = await runCli(['serve', '--anonymous', '--port', '0', '--storage', 'memory', '--tls-cert', pki.cert, '--tls-key', pki.otherKey])
    expect(mismatch.code).toBe(1)
    expect(mismatch.stderr.trim().split('\n')).toHaveLength(1)
    expect(firstLine(mismatch.stderr)).toContain('not a usable certificate and key')
    const half = await runCli(['serve', '--anonymous', '--port', '0', '--storage', 'memory', '--tls-cert', pki.cert])
    expect(half.code).toBe(2)
    expect(firstLine(half.stderr)).toBe('murmur: --tls-cert needs --tls-key (its private key)')
  })
})
