import { describe, expect, it } from 'vitest'
import { ConnectionState } from '../../client/dist/index.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient } from '../support/sdk.js'

describe('client SDK: closing', () => {
  it('a client closed while its socket is still connecting closes quietly', async () => {
    const server = await startTestServer()
    for (let i = 0; i < 10; i++) {
      const client = sdkClient(server.url)
      expect(client.state).toBe(ConnectionState.connecting)
      await client.close()
      expect(client.state).toBe(ConnectionState.closed)
    }
  })
})
