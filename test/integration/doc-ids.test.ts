import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { Decoder, Encoder } from 'cbor-x'
import * as Automerge from '@automerge/automerge'
import { CloseCode, INVALID_DOC_ID_MESSAGE, MessageType, PROTOCOL_MAJOR, PROTOCOL_MINOR, decodeMessage, encodeMessage } from '@murmur/shared'
import { startTestServer, wsUrl } from '../support/servers.js'
import { postUpdate, textUpdate } from '../support/cli.js'
import { within } from '../support/wait.js'

/** One doc-id rule on every endpoint: 256 characters work everywhere; 257 are refused alike everywhere. */
const longest = 'ü'.repeat(128) + 'a'.repeat(128)
const tooLong = longest + 'a'
const refusal = { code: 'MUR_ERR_INVALID_DOC_ID', message: INVALID_DOC_ID_MESSAGE }
const closeReason = `MUR_ERR_INVALID_DOC_ID: ${INVALID_DOC_ID_MESSAGE}`

interface Outcome {
  readonly close: { code: number; reason: string } | null
  readonly frames: Uint8Array[]
}

/** Open a socket, send `frames` once open, and gather what comes back until `done` says so or it closes. */
async function exchange(url: string, frames: Uint8Array[], done: (got: Uint8Array[]) => boolean): Promise<Outcome> {
  const ws = new WebSocket(url)
  ws.binaryType = 'nodebuffer'
  ws.on('error', () => undefined)
  onTestFinished(() => ws.terminate())
  const got: Uint8Array[] = []
  return within(
    new Promise<Outcome>((resolve) => {
      ws.once('open', () => frames.forEach((f) => ws.send(f)))
      ws.on('message', (data: Buffer) => {
        got.push(new Uint8Array(data))
        if (done(got)) resolve({ close: null, frames: got })
      })
      ws.once('close', (code, reason) => resolve({ close: { code, reason: reason.toString() }, frames: got }))
    }),
    10_000,
    `an answer on ${url.slice(0, 60)}`,
  )
}

const syncOpen = (docId: string): Uint8Array[] => [
  encodeMessage({ type: MessageType.hello, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, token: '', client: 'doc-id-test' }),
  encodeMessage({ type: MessageType.open, ref: 1, engine: 'yjs', docId }),
]
const syncedRef1 = (got: Uint8Array[]): boolean => got.some((f) => { const m = decodeMessage(f); return m.type === MessageType.sync && m.ref === 1 })

const cbor = new Encoder({ tagUint8Array: false, useRecords: false })
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })
const repoRequest = (docId: string): Uint8Array[] => [
  cbor.encode({ type: 'join', senderId: 'doc-id-peer', peerMetadata: {}, supportedProtocolVersions: ['1'] }),
  cbor.encode({ type: 'ephemeral', senderId: 'doc-id-peer', targetId: 'server', count: 1, sessionId: 's', documentId: docId, data: new Uint8Array([1]) }),
]

describe('doc ids, alike on every endpoint', () => {
  it('a 256-character id works on every HTTP route and socket endpoint', async () => {
    const server = await startTestServer()
    const path = `/v1/docs/yjs/${encodeURIComponent(longest)}`
    expect(await postUpdate(server.url, longest, textUpdate('long'))).toBe(200)
    for (const route of [path, `${path}/state`, `${path}/history`, `${path}/history/1`]) expect((await fetch(server.url + route)).status, route).toBe(200)
    expect((await (await fetch(server.url + path)).json()).content).toEqual({ t: 'long' })

    const yjs = await exchange(wsUrl(server.url, `/yjs/${encodeURIComponent(longest)}`), [], (got) => got.length > 0)
    expect(yjs.close).toBeNull()
    const sync = await exchange(wsUrl(server.url, '/sync'), syncOpen(longest), syncedRef1)
    expect(sync.close).toBeNull()
    // A request for a doc nobody wrote is answered for that documentId (doc-unavailable).
    const [, request] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
    const answered = (got: Uint8Array[]): boolean => got.some((f) => (decoder.decode(f) as { documentId?: string }).documentId === longest)
    const repo = await exchange(wsUrl(server.url, '/automerge'), [repoRequest(longest)[0], cbor.encode({ type: 'request', senderId: 'doc-id-peer', targetId: 's', documentId: longest, data: request })], answered)
    expect(repo.close).toBeNull()
    expect((await fetch(server.url + path, { method: 'DELETE' })).status).toBe(200)
  })

  it('a 257-character id is refused with the same code and words on every HTTP route and socket endpoint', async () => {
    const server = await startTestServer()
    const path = `/v1/docs/yjs/${encodeURIComponent(tooLong)}`
    const routes: [string, string][] = [['GET', path], ['GET', `${path}/state`], ['POST', `${path}/updates`], ['GET', `${path}/history`], ['GET', `${path}/history/1`], ['DELETE', path]]
    for (const [method, route] of routes) {
      const res = await fetch(server.url + route, { method, headers: { 'content-type': 'application/octet-stream' }, body: method === 'POST' ? Buffer.from(textUpdate('x')) : undefined })
      expect(res.status, `${method} ${route.slice(-20)}`).toBe(400)
      expect(await res.json()).toEqual(refusal)
    }
    const refused = { code: CloseCode.MALFORMED, reason: closeReason }
    expect((await exchange(wsUrl(server.url, `/yjs/${encodeURIComponent(tooLong)}`), [], () => false)).close).toEqual(refused)
    expect((await exchange(wsUrl(server.url, '/sync'), syncOpen(tooLong), () => false)).close).toEqual(refused)
    expect((await exchange(wsUrl(server.url, '/automerge'), repoRequest(tooLong), () => false)).close).toEqual(refused)
  })
})
