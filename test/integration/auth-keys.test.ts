/**
 * Keys that change while a node runs: a JWKS served at a URL rotates (new tokens work, tokens of the
 * removed key are refused, no restart), and a token named in the revocation file loses its live
 * socket within seconds.
 */
import { createServer, type Server } from 'node:http'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { SignJWT, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose'
import type { MurmurServer } from '../../server/dist/index.js'
import { AUTH_SECRET } from '../support/auth.js'
import { startTestServer, tempDir, wsUrl } from '../support/servers.js'
import { within } from '../support/wait.js'

interface SigningKey {
  readonly kid: string
  readonly privateKey: CryptoKey
  readonly jwk: JWK
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } }
}

async function signed(key: SigningKey, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ murmur: { docs: { '*': 'write' } }, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setSubject('tester')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key.privateKey)
}

/** A JWKS endpoint on port 0 whose keys the test swaps; counts its fetches. */
async function jwksServer(): Promise<{ url: string; serve(keys: SigningKey[]): void; fetches: () => number; close(): Promise<void> }> {
  let body = JSON.stringify({ keys: [] })
  let fetches = 0
  const server: Server = createServer((_req, res) => {
    fetches++
    res.writeHead(200, { 'content-type': 'application/json' }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    serve: (keys) => (body = JSON.stringify({ keys: keys.map((k) => k.jwk) })),
    fetches: () => fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** How a `/yjs/<doc>` socket with `token` fares: 'accepted' (its first sync message came) or its close. */
function tryToken(server: MurmurServer, tokenText: string): { outcome: Promise<'accepted' | { code: number; reason: string }>; closed: Promise<{ code: number; reason: string }>; ws: WebSocket } {
  const ws = new WebSocket(wsUrl(server.url, `/yjs/notes?token=${tokenText}`))
  onTestFinished(() => ws.terminate())
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const outcome = Promise.race([new Promise<'accepted'>((resolve) => ws.once('message', () => resolve('accepted'))), closed])
  return { outcome, closed, ws }
}

const stops: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop()
})

describe('--auth-jwks-url', () => {
  it('takes a rotated key without a restart: new tokens work, tokens of the removed key are refused', async () => {
    const jwks = await jwksServer()
    stops.push(jwks.close)
    const oldKey = await signingKey('key-2025')
    const newKey = await signingKey('key-2026')
    jwks.serve([oldKey])
    const server = await startTestServer({ authJwksUrl: jwks.url, authJwksCooldownMs: 0 })

    const before = await signed(oldKey)
    expect(await within(tryToken(server, before).outcome, 5000, 'the old key accepted')).toBe('accepted')
    // Verified tokens are remembered: a second socket with the same token does not fetch again.
    const fetched = jwks.fetches()
    expect(await within(tryToken(server, before).outcome, 5000, 'the old key accepted again')).toBe('accepted')
    expect(jwks.fetches()).toBe(fetched)

    jwks.serve([newKey])
    expect(await within(tryToken(server, await signed(newKey)).outcome, 5000, 'the new key')).toBe('accepted')
    expect(jwks.fetches()).toBe(fetched + 1)

    const freshOld = await within(tryToken(server, await signed(oldKey)).outcome, 5000, 'a new token of the removed key')
    expect(freshOld).toMatchObject({ code: 4401 })
    // The token verified before the rotation is not taken from memory once its key is gone.
    const remembered = await within(tryToken(server, before).outcome, 5000, 'the remembered token of the removed key')
    expect(remembered).toMatchObject({ code: 4401 })
  })

  it('refuses to start with a URL that is not http(s)', async () => {
    await expect(startTestServer({ authJwksUrl: 'file:///etc/jwks.json' })).rejects.toThrow(/auth-jwks-url/u)
  })
})

describe('--auth-revocations', () => {
  it('closes the live socket of a revoked token within 5 s, and refuses it afterwards', async () => {
    const file = path.join(tempDir(), 'revoked.json')
    writeFileSync(file, JSON.stringify({ jti: [] }))
    const server = await startTestServer({ authSecret: AUTH_SECRET, authRevocations: file })
    const key = new TextEncoder().encode(AUTH_SECRET)
    const now = Math.floor(Date.now() / 1000)
    const sign = (jti: string, sub: string): Promise<string> =>
      new SignJWT({ murmur: { docs: { '*': 'write' } } }).setProtectedHeader({ alg: 'HS256' }).setJti(jti).setSubject(sub).setExpirationTime(now + 3600).sign(key)

    const revoked = tryToken(server, await sign('token-1', 'alice'))
    const kept = tryToken(server, await sign('token-2', 'bob'))
    const bySubject = tryToken(server, await sign('token-3', 'mallory'))
    for (const s of [revoked, kept, bySubject]) expect(await within(s.outcome, 5000, 'accepted')).toBe('accepted')

    const revokedAt = Date.now()
    writeFileSync(file, JSON.stringify({ jti: ['token-1'], sub: ['mallory'] }))
    const closed = await within(revoked.closed, 5000, 'the revoked socket closed')
    expect(Date.now() - revokedAt).toBeLessThan(5000)
    expect(closed).toEqual({ code: 4401, reason: expect.stringMatching(/revoked/u) as unknown as string })
    expect(await within(bySubject.closed, 5000, 'the socket of the revoked subject closed')).toMatchObject({ code: 4401 })
    expect(kept.ws.readyState).toBe(WebSocket.OPEN)

    const again = await within(tryToken(server, await sign('token-1', 'alice')).outcome, 5000, 'the revoked token again')
    expect(again).toMatchObject({ code: 4401 })
    const res = await fetch(`${server.url}/v1/docs`, { headers: { authorization: `Bearer ${await sign('token-1', 'alice')}` } })
    expect(res.status).toBe(401)
  })

  it('keeps the previous list when the file turns unreadable', async () => {
    const file = path.join(tempDir(), 'revoked.json')
    writeFileSync(file, JSON.stringify({ jti: ['token-9'] }))
    await expect(startTestServer({ authSecret: AUTH_SECRET, authRevocations: path.join(tempDir(), 'missing.json') })).rejects.toThrow(/auth-revocations/u)
    const server = await startTestServer({ authSecret: AUTH_SECRET, authRevocations: file })
    writeFileSync(file, '{ not json')
    server.auth.reloadRevocations()
    const key = new TextEncoder().encode(AUTH_SECRET)
    const t = await new SignJWT({ murmur: { docs: { '*': 'write' } } }).setProtectedHeader({ alg: 'HS256' }).setJti('token-9').setExpirationTime('1h').sign(key)
    expect(await within(tryToken(server, t).outcome, 5000, 'still revoked')).toMatchObject({ code: 4401 })
  })
})
