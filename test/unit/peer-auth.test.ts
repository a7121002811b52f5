import { describe, expect, it } from 'vitest'
import { PeerTokenVerifier, nodeAudiences, peerHeaders } from '../../server/dist/cluster/peer-auth.js'

const SECRET = 'unit-cluster-secret'
const FROM = { id: 'node-b', url: 'ws://10.0.0.2:4321' }
const SELF = ['node-a', 'ws://10.0.0.1:4321']

describe('peer link tokens', () => {
  it('a token verifies once; its id is remembered until it expires, then forgotten', async () => {
    const v = new PeerTokenVerifier([SECRET])
    const t0 = Date.now()
    const headers = await peerHeaders(SECRET, FROM, 'ws://10.0.0.1:4321/', t0)
    expect(await v.verify(headers, SELF, t0)).toEqual({ ok: true, id: 'node-b', url: FROM.url })
    expect(await v.verify(headers, SELF, t0 + 1000)).toMatchObject({ ok: false, reason: 'replayed token' })
    expect(v.remembered).toBe(1)
    // Two minutes on, that token could not verify any more: a new handshake sweeps its id out.
    const later = t0 + 120_000
    expect((await v.verify(await peerHeaders(SECRET, FROM, 'node-a', later), SELF, later)).ok).toBe(true)
    expect(v.remembered).toBe(1)
    expect(await v.verify(headers, SELF, later)).toMatchObject({ ok: false, reason: 'expired token' })
  })

  it('names the reason of every refusal', async () => {
    const v = new PeerTokenVerifier([SECRET])
    const now = Date.now()
    expect(await v.verify({}, SELF, now)).toMatchObject({ ok: false, reason: 'no token' })
    expect(await v.verify({ 'x-murmur-peer-token': 'not.a.jwt' }, SELF, now)).toMatchObject({ ok: false, reason: 'malformed token' })
    expect(await v.verify(await peerHeaders('another-secret', FROM, 'node-a', now), SELF, now)).toMatchObject({ ok: false, reason: 'bad signature' })
    expect(await v.verify(await peerHeaders(SECRET, FROM, 'node-c', now), SELF, now)).toMatchObject({ ok: false, reason: 'wrong audience', audience: 'node-c' })
    expect(await v.verify(await peerHeaders(SECRET, FROM, 'node-a', now + 10 * 60_000), SELF, now)).toMatchObject({ ok: false, reason: 'token not yet valid' })
  })

  it('a node listening on every address answers to each of them and to its advertised URL', () => {
    const names = nodeAudiences({ id: 'a', url: 'wss://a.example.com/' }, { scheme: 'wss', host: '0.0.0.0', port: 4321 }, ['10.0.0.1', 'fe80::1'])
    expect(names).toEqual(expect.arrayContaining(['a', 'wss://a.example.com', 'wss://localhost:4321', 'wss://10.0.0.1:4321', 'wss://[fe80::1]:4321']))
  })
})
