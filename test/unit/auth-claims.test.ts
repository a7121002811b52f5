import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { SignJWT, exportJWK } from 'jose'
import fc from 'fast-check'
import { Auth, accessFor, parseRule, rulesFromPayload, loadConfig } from '../../server/dist/index.js'
import { tempDir } from '../support/servers.js'

const rules = (docs: Record<string, string>) => rulesFromPayload({ murmur: { docs } })

describe('token claims', () => {
  it('parses engine-qualified, any-engine, exact and prefix patterns', () => {
    expect(parseRule('yjs:notes-*', 'write')).toMatchObject({ engine: 'yjs', id: 'notes-', prefix: true })
    expect(parseRule('automerge:*', 'read')).toMatchObject({ engine: 'automerge', id: '', prefix: true })
    expect(parseRule('*', 'read')).toMatchObject({ engine: null, id: '', prefix: true })
    expect(parseRule('plain', 'read')).toMatchObject({ engine: null, id: 'plain', prefix: false })
    // A doc id that itself starts with an engine name is reached with `*:`.
    expect(parseRule('*:yjs:odd', 'read')).toMatchObject({ engine: null, id: 'yjs:odd', prefix: false })
    expect(parseRule('team:a', 'read')).toMatchObject({ engine: null, id: 'team:a', prefix: false })
  })

  it('the most specific rule wins: exact over prefix, longer prefix over shorter, engine over any', () => {
    const r = rules({ '*': 'read', 'yjs:notes-*': 'write', 'yjs:notes-secret-*': 'none', 'yjs:notes-secret-shared': 'read', 'notes-x': 'none', 'yjs:notes-x': 'write' })
    expect(accessFor(r, 'yjs', 'anything')).toBe('read')
    expect(accessFor(r, 'automerge', 'notes-1')).toBe('read')
    expect(accessFor(r, 'yjs', 'notes-1')).toBe('write')
    expect(accessFor(r, 'yjs', 'notes-secret-1')).toBe('none')
    expect(accessFor(r, 'yjs', 'notes-secret-shared')).toBe('read')
    expect(accessFor(r, 'yjs', 'notes-x')).toBe('write')
    expect(accessFor(r, 'automerge', 'notes-x')).toBe('none')
    expect(accessFor([], 'yjs', 'x')).toBe('none')
  })

  it('refuses malformed claims instead of half-reading them', () => {
    expect(() => rulesFromPayload({ murmur: 'all' })).toThrow(/must be an object/u)
    expect(() => rulesFromPayload({ murmur: { docs: { x: 'admin' } } })).toThrow(/read", "write" or "none"/u)
    expect(() => rulesFromPayload({ murmur: { docs: ['x'] } })).toThrow()
    expect(rulesFromPayload({ sub: 'no claim' })).toEqual([])
  })

  it('property: a prefix rule grants exactly the ids that start with it, in its engine only', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), fc.constantFrom('yjs', 'automerge') as fc.Arbitrary<'yjs' | 'automerge'>, (prefix, id, engine) => {
        const r = rules({ [`yjs:${prefix}*`]: 'write' })
        const expected = engine === 'yjs' && id.startsWith(prefix) ? 'write' : 'none'
        expect(accessFor(r, engine, id)).toBe(expected)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('token verification', () => {
  it('RS256 and ES256 through a PEM public key or a JWKS file; no algorithm confusion', async () => {
    const dir = tempDir()
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pem = path.join(dir, 'rsa.pem')
    writeFileSync(pem, rsa.publicKey.export({ type: 'spki', format: 'pem' }))
    const jwks = path.join(dir, 'jwks.json')
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256' }] }))
    const claims = { murmur: { docs: { 'yjs:a': 'write' } } }

    const byPem = new Auth({ anonymous: false, secret: null, publicKeyFile: pem, jwksFile: null, issuer: 'idp', audience: 'murmur' })
    const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setIssuer('idp').setAudience('murmur').setExpirationTime('1h').sign(rsa.privateKey)
    const id = await byPem.authenticate(rs)
    expect(byPem.authorize(id, 'yjs', 'a', 'write')).toBe(true)
    expect(byPem.authorize(id, 'yjs', 'b', 'read')).toBe(false)
    // Wrong issuer, and an HS256 token "signed" with the public key's PEM text, are refused.
    const wrongIss = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setIssuer('other').setAudience('murmur').sign(rsa.privateKey)
    await expect(byPem.authenticate(wrongIss)).rejects.toMatchObject({ code: 'MUR_ERR_UNAUTHORIZED' })
    const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('idp').setAudience('murmur').sign(new TextEncoder().encode(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()))
    await expect(byPem.authenticate(confused)).rejects.toMatchObject({ code: 'MUR_ERR_UNAUTHORIZED' })

    const byJwks = new Auth({ anonymous: false, secret: null, publicKeyFile: null, jwksFile: jwks, issuer: null, audience: null })
    const es = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ec.privateKey)
    expect(byJwks.authorize(await byJwks.authenticate(es), 'yjs', 'a', 'write')).toBe(true)
    const unknownKid = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).sign(ec.privateKey)
    await expect(byJwks.authenticate(unknownKid)).rejects.toMatchObject({ code: 'MUR_ERR_UNAUTHORIZED' })
    const rsToJwks = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)
    await expect(byJwks.authenticate(rsToJwks)).rejects.toMatchObject({ code: 'MUR_ERR_UNAUTHORIZED' })
  })

  it('bad key files stop the node with a message', () => {
    const dir = tempDir()
    const notPem = path.join(dir, 'x.pem')
    writeFileSync(notPem, 'hello')
    expect(() => new Auth({ anonymous: false, secret: null, publicKeyFile: notPem, jwksFile: null, issuer: null, audience: null })).toThrow(/--auth-public-key/u)
    const priv = path.join(dir, 'priv.json')
    writeFileSync(priv, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] }))
    expect(() => new Auth({ anonymous: false, secret: null, publicKeyFile: null, jwksFile: priv, issuer: null, audience: null })).toThrow(/private key/u)
  })

  it('config: no auth and no --anonymous is refused; --anonymous and MURMUR_ANONYMOUS are read; webhooks need a secret', () => {
    expect(() => loadConfig([], {})).toThrow(/no authentication configured/u)
    expect(loadConfig(['--anonymous'], {}).anonymous).toBe(true)
    expect(loadConfig([], { MURMUR_ANONYMOUS: 'true' }).anonymous).toBe(true)
    expect(() => loadConfig([], { MURMUR_ANONYMOUS: 'maybe' })).toThrow(/true or false/u)
    expect(loadConfig(['--auth-secret', 'x'.repeat(32)], {}).authSecret).toBe('x'.repeat(32))
    expect(() => loadConfig(['--anonymous', '--webhook-url', 'http://h/x'], {})).toThrow(/--webhook-secret/u)
    expect(() => loadConfig(['--anonymous', '--webhook-url', 'ftp://h/x', '--webhook-secret', 's'], {})).toThrow(/http/u)
  })
})
