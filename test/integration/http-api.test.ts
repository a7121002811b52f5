import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import { asDocId } from '@murmur/shared'
import type { MurmurServer } from '../../server/dist/index.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startTestServer } from '../support/servers.js'
import { sdkClient, untilSynced } from '../support/sdk.js'
import { until, within } from '../support/wait.js'

const octets = { 'content-type': 'application/octet-stream' }

async function post(server: MurmurServer, url: string, update: Uint8Array, headers: Record<string, string> = {}) {
  return server.http.inject({ method: 'POST', url, headers: { ...octets, ...headers }, payload: Buffer.from(update) })
}

/** Successive Yjs updates, each inserting one word at the end of `t`. */
function words(...list: string[]): Uint8Array[] {
  const d = new Y.Doc()
  const out: Uint8Array[] = []
  d.on('update', (u: Uint8Array) => out.push(u))
  for (const w of list) d.getText('t').insert(d.getText('t').length, w)
  return out
}

describe('HTTP API (/v1)', () => {
  it('applies an update, reads the doc as JSON and as binary state; connected clients see HTTP writes', async () => {
    const server = await startTestServer()
    const client = sdkClient(server.url)
    const handle = client.yjs('api')
    await untilSynced(handle)

    const [first] = words('hello')
    const res = await post(server, '/v1/docs/yjs/api/updates', first)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ engine: 'yjs', docId: 'api', changed: true })
    // The same update again changes nothing.
    expect((await post(server, '/v1/docs/yjs/api/updates', first)).json()).toMatchObject({ changed: false })
    await until(() => handle.doc.getText('t').toString() === 'hello', (cb) => {
      handle.doc.on('update', cb)
      return () => handle.doc.off('update', cb)
    }, 10_000, 'the SDK to see the HTTP write')

    const json = (await server.http.inject({ url: '/v1/docs/yjs/api' })).json()
    expect(json).toMatchObject({ engine: 'yjs', docId: 'api', content: { t: 'hello' } })
    const state = await server.http.inject({ url: '/v1/docs/yjs/api/state' })
    expect(state.headers['content-type']).toBe('application/octet-stream')
    expect(state.headers['x-murmur-version']).toBe(json.version)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, new Uint8Array(state.rawPayload))
    expect(copy.getText('t').toString()).toBe('hello')

    // Automerge docs too.
    const am = A.save(A.from({ n: 1 }))
    expect((await post(server, '/v1/docs/automerge/board/updates', am)).statusCode).toBe(200)
    expect((await server.http.inject({ url: '/v1/docs/automerge/board' })).json().content).toEqual({ n: 1 })
  })

  it('refuses bad input with codes: invalid updates, unknown engines, bad ids, wrong content type, bad paging', async () => {
    const server = await startTestServer()
    const before = (await server.http.inject({ url: '/v1/docs/yjs/x' })).json().version
    const bad = await post(server, '/v1/docs/yjs/x/updates', new Uint8Array([255, 255, 255, 1, 2]))
    expect(bad.statusCode).toBe(400)
    expect(bad.json().code).toBe('MUR_ERR_INVALID_UPDATE')
    expect((await post(server, '/v1/docs/nope/x/updates', words('a')[0])).json().code).toBe('MUR_ERR_UNKNOWN_ENGINE')
    expect((await server.http.inject({ url: `/v1/docs/yjs/${encodeURIComponent(' padded ')}` })).json().code).toBe('MUR_ERR_INVALID_DOC_ID')
    const json = await server.http.inject({ method: 'POST', url: '/v1/docs/yjs/x/updates', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' })
    expect(json.statusCode).toBe(400)
    expect(json.json().code).toBe('MUR_ERR_MALFORMED_MESSAGE')
    expect((await server.http.inject({ url: '/v1/docs?limit=0' })).json().code).toBe('MUR_ERR_MALFORMED_MESSAGE')
    expect((await server.http.inject({ url: '/v1/docs?after=nocolon' })).json().code).toBe('MUR_ERR_MALFORMED_MESSAGE')
    expect((await server.http.inject({ url: '/v1/docs/yjs/x' })).json().version).toBe(before)
  })

  it('lists docs in pages; a token lists only what it may read', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const writer = { authorization: `Bearer ${await token({ '*': 'write' })}` }
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    for (const id of ids) expect((await post(server, `/v1/docs/yjs/${id}/updates`, words(id)[0], writer)).statusCode).toBe(200)
    await post(server, '/v1/docs/automerge/z/updates', A.save(A.from({ z: 1 })), writer)
    await server.storage.flush()

    const pages: string[][] = []
    let after: string | null = null
    do {
      const page: { docs: { engine: string; docId: string }[]; next: string | null } = (await server.http.inject({ url: `/v1/docs?limit=3${after === null ? '' : `&after=${encodeURIComponent(after)}`}`, headers: writer })).json()
      pages.push(page.docs.map((d: { engine: string; docId: string }) => `${d.engine}:${d.docId}`))
      after = page.next
    } while (after !== null)
    expect(pages.flat()).toEqual(['automerge:z', ...ids.map((id) => `yjs:${id}`)])
    expect(pages[0]).toHaveLength(3)

    const yjsOnly = (await server.http.inject({ url: '/v1/docs?engine=yjs&limit=100', headers: writer })).json()
    expect(yjsOnly.docs).toHaveLength(ids.length)
    expect(yjsOnly.next).toBeNull()

    const some = { authorization: `Bearer ${await token({ 'yjs:b': 'read', 'yjs:f': 'write', 'yjs:g': 'none' })}` }
    const seen: string[] = []
    after = null
    do {
      const page: { docs: { docId: string }[]; next: string | null } = (await server.http.inject({ url: `/v1/docs?limit=1${after === null ? '' : `&after=${encodeURIComponent(after)}`}`, headers: some })).json()
      seen.push(...page.docs.map((d: { docId: string }) => d.docId))
      after = page.next
    } while (after !== null)
    expect(seen).toEqual(['b', 'f'])
  })

  it('shows history (snapshot and log entries with seqs, sizes and times) and the content at any seq since the snapshot', async () => {
    const server = await startTestServer({ compactEveryUpdates: 1000 })
    const updates = words('one ', 'two ', 'three ', 'four')
    for (const u of updates) await post(server, '/v1/docs/yjs/story/updates', u)
    const history = (await server.http.inject({ url: '/v1/docs/yjs/story/history' })).json()
    expect(history.snapshot).toBeNull()
    expect(history.entries).toHaveLength(4)
    expect(history.entries.map((e: { bytes: number }) => e.bytes)).toEqual(updates.map((u) => u.length))
    for (const e of history.entries) expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 60_000)
    expect(history.lastSeq).toBe(history.entries.at(-1).seq)

    const seqs: number[] = history.entries.map((e: { seq: number }) => e.seq)
    const at = async (seq: number) => (await server.http.inject({ url: `/v1/docs/yjs/story/history/${seq}` })).json()
    expect((await at(seqs[0])).content).toEqual({ t: 'one ' })
    expect((await at(seqs[2])).content).toEqual({ t: 'one two three ' })
    expect((await at(seqs[3])).version).toBe((await server.http.inject({ url: '/v1/docs/yjs/story' })).json().version)

    const page = (await server.http.inject({ url: `/v1/docs/yjs/story/history?after=${seqs[0]}&limit=2` })).json()
    expect(page.entries.map((e: { seq: number }) => e.seq)).toEqual([seqs[1], seqs[2]])
    expect(page.next).toBe(seqs[2])

    // After a compaction, versions before the snapshot are gone, and say so.
    await (await server.registry.get({ engine: 'yjs', docId: asDocId('story') })).compact()
    const compacted = (await server.http.inject({ url: '/v1/docs/yjs/story/history' })).json()
    expect(compacted.snapshot).toMatchObject({ upToSeq: seqs[3] })
    expect(compacted.entries).toEqual([])
    const gone = await server.http.inject({ url: `/v1/docs/yjs/story/history/${seqs[1]}` })
    expect(gone.statusCode).toBe(410)
    expect(gone.json().code).toBe('MUR_ERR_VERSION_UNAVAILABLE')
    expect((await at(seqs[3])).content).toEqual({ t: 'one two three four' })
  })

  it('deletes a doc: its subscribers get DOC_DELETED, and the doc refuses loads and writes from then on', async () => {
    const server = await startTestServer()
    await post(server, '/v1/docs/yjs/doomed/updates', words('bye')[0])
    const client = sdkClient(server.url)
    const handle = client.yjs('doomed')
    await untilSynced(handle)
    const errors: string[] = []
    handle.on('error', (e) => errors.push(e.code))
    const y = new WebSocket(`${server.url.replace(/^http/u, 'ws')}/yjs/doomed`)
    y.on('error', () => undefined)
    const yClosed = new Promise<number>((resolve) => y.once('close', (code) => resolve(code)))
    await new Promise<void>((resolve) => y.once('message', () => resolve()))

    const del = await server.http.inject({ method: 'DELETE', url: '/v1/docs/yjs/doomed' })
    expect(del.statusCode).toBe(200)
    expect(del.json()).toMatchObject({ deleted: true })
    await until(() => errors.includes('MUR_ERR_DOC_DELETED'), (cb) => handle.on('error', cb), 10_000, 'the SDK to hear of the deletion')
    expect(await within(yClosed, 10_000, 'the y-websocket socket to close')).toBe(4410)

    for (const url of ['/v1/docs/yjs/doomed', '/v1/docs/yjs/doomed/state', '/v1/docs/yjs/doomed/history', '/v1/docs/yjs/doomed/history/1']) {
      const res = await server.http.inject({ url })
      expect(res.statusCode, url).toBe(410)
      expect(res.json().code).toBe('MUR_ERR_DOC_DELETED')
    }
    expect((await post(server, '/v1/docs/yjs/doomed/updates', words('again')[0])).json().code).toBe('MUR_ERR_DOC_DELETED')
    expect((await server.http.inject({ url: '/v1/docs' })).json().docs).toEqual([])
    expect(await server.storage.load({ engine: 'yjs', docId: asDocId('doomed') })).toBeNull()
    // The same id in the other engine is another doc, untouched.
    expect((await post(server, '/v1/docs/automerge/doomed/updates', A.save(A.from({ a: 1 })))).statusCode).toBe(200)
  })

  it('serves Prometheus metrics: connections, docs, updates, bytes, ack and commit latency', async () => {
    const server = await startTestServer()
    const client = sdkClient(server.url)
    const handle = client.yjs('metered')
    await untilSynced(handle)
    handle.doc.getText('t').insert(0, 'counted')
    await until(() => handle.unsavedCount === 0, (cb) => handle.on('unsaved', cb), 10_000, 'saved')
    const text = (await server.http.inject({ url: '/metrics' })).body
    expect(text).toMatch(/^murmur_connections\{endpoint="sync"\} 1$/mu)
    expect(text).toMatch(/^murmur_docs_loaded 1$/mu)
    expect(text).toMatch(/^murmur_doc_updates_total\{engine="yjs"\} [1-9]/mu)
    expect(text).toMatch(/^murmur_bytes_received_total\{endpoint="sync"\} [1-9]/mu)
    expect(text).toMatch(/^murmur_bytes_sent_total\{endpoint="sync"\} [1-9]/mu)
    expect(text).toMatch(/^murmur_ack_latency_seconds_count [1-9]/mu)
    expect(text).toMatch(/^murmur_storage_commit_seconds_count [1-9]/mu)
    expect(text).toMatch(/^murmur_process_resident_memory_bytes /mu)
  })
})
