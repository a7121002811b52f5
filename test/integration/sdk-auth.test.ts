import { describe, expect, it } from 'vitest'
import { ConnectionState, type MurmurClient } from '../../client/dist/index.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { until } from '../support/wait.js'

function untilState(client: MurmurClient, state: string, ms = 10_000): Promise<void> {
  return until(() => client.state === state, (cb) => client.on('status', cb), ms, `client state ${state}`)
}

describe('client SDK: tokens', () => {
  it('a refused token that getToken cannot replace stops the retries: state unauthorized, an error on every handle', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const expired = await token({ '*': 'write' }, { expiresIn: -30 })
    let asked = 0
    const client = sdkClient(server.url, {
      getToken: () => {
        asked++
        return expired
      },
    })
    const handle = client.yjs('notes')
    const errors: string[] = []
    handle.on('error', (e) => errors.push(e.code))
    handle.doc.getText('t').insert(0, 'kept locally')
    await untilState(client, ConnectionState.unauthorized)
    expect(client.connection.lastClose?.code).toBe(4401)
    expect(errors).toContain('MUR_ERR_UNAUTHORIZED')
    expect(handle.status).toBe('offline')
    expect(asked).toBe(2) // the connect, then once more after the refusal

    // While it waits, another client does real work on the node; the refused one does not come back.
    const other = sdkClient(server.url, { token: await token({ '*': 'write' }) })
    const h2 = other.yjs('elsewhere')
    h2.doc.getText('t').insert(0, 'x')
    await untilSaved(h2)
    expect(asked).toBe(2)
    expect(client.state).toBe(ConnectionState.unauthorized)

    // A new token: it connects at once and the local edit is saved.
    client.setToken(await token({ '*': 'write' }))
    await untilSaved(handle)
    await untilSynced(handle)
    const live = await server.registry.get({ engine: 'yjs', docId: 'notes' as never })
    expect(live.doc.toJSON()).toEqual({ t: 'kept locally' })
  })

  it('when getToken has a fresh token after a refusal, the client reconnects with it', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const tokens = [await token({ '*': 'write' }, { expiresIn: -30 }), await token({ '*': 'write' })]
    let asked = 0
    const client = sdkClient(server.url, { getToken: () => tokens[Math.min(asked++, 1)] })
    const handle = client.yjs('notes')
    handle.doc.getText('t').insert(0, 'hi')
    await untilSaved(handle)
    expect(asked).toBe(2)
    expect(client.state).toBe(ConnectionState.open)
  })

  it('a token that expires on a live socket: closed with 4401, getToken gives a new one, the client is back', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const tokens = [await token({ '*': 'write' }, { expiresIn: 2 }), await token({ '*': 'write' })]
    let asked = 0
    const client = sdkClient(server.url, { getToken: () => tokens[Math.min(asked++, 1)] })
    const handle = client.yjs('notes')
    await untilSynced(handle)
    const codes: number[] = []
    client.on('status', (_s, detail) => {
      if (detail.code !== undefined) codes.push(detail.code)
    })
    await until(() => codes.includes(4401), (cb) => client.on('status', cb), 10_000, 'the close at expiry')
    await untilState(client, ConnectionState.open)
    handle.doc.getText('t').insert(0, 'after')
    await untilSaved(handle)
    expect(asked).toBe(2)
  })

  it('refreshToken sends the new token on the live socket: no reconnect, and refused writes go through', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const tokens = [await token({ 'yjs:notes': 'read' }), await token({ 'yjs:notes': 'write' })]
    let asked = 0
    const client = sdkClient(server.url, { getToken: () => tokens[Math.min(asked++, 1)] })
    const handle = client.yjs('notes')
    await untilSynced(handle)
    let refusedCount = 0
    handle.on('error', (e) => {
      if (e.code === 'MUR_ERR_FORBIDDEN') refusedCount++
    })
    const refused = until(() => refusedCount > 0, (cb) => handle.on('error', cb), 10_000, 'the refusal')
    handle.doc.getText('t').insert(0, 'needs write')
    await refused
    expect(handle.unsavedCount).toBe(1)
    const opened = server.metrics.registry.getSingleMetric('murmur_connections_opened_total')
    const before = JSON.stringify(await opened?.get())

    await client.refreshToken()
    await untilSaved(handle)
    expect(JSON.stringify(await opened?.get())).toBe(before) // same socket
    const live = await server.registry.get({ engine: 'yjs', docId: 'notes' as never })
    expect(live.doc.toJSON()).toEqual({ t: 'needs write' })
  })
})
