/**
 * Version history over HTTP: named versions kept through compaction and restarts, restore as a forward
 * change that offline clients merge, attribution by token subject, and write rights for every change.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as A from '@automerge/automerge'
import type { MurmurServer } from '../../server/dist/index.js'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startTestServer, tempDir } from '../support/servers.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { untilText } from '../support/ywebsocket.js'
import { once, within } from '../support/wait.js'

const octets = { 'content-type': 'application/octet-stream' }

/** A Yjs editor of root text `t` whose updates the test posts over HTTP. */
class Writer {
  readonly doc = new Y.Doc()
  insert(at: number, text: string): Uint8Array {
    const before = Y.encodeStateVector(this.doc)
    this.doc.getText('t').insert(at, text)
    return Y.encodeStateAsUpdate(this.doc, before)
  }
  append(text: string): Uint8Array {
    return this.insert(this.doc.getText('t').length, text)
  }
}

function bearer(t: string | null): Record<string, string> {
  return t === null ? {} : { authorization: `Bearer ${t}` }
}

async function postUpdate(server: MurmurServer, doc: string, update: Uint8Array, t: string | null = null) {
  const res = await server.http.inject({ method: 'POST', url: `/v1/docs/${doc}/updates`, headers: { ...octets, ...bearer(t) }, payload: Buffer.from(update) })
  expect(res.statusCode, res.body).toBe(200)
}

async function nameVersion(server: MurmurServer, doc: string, name: string, t: string | null = null) {
  return server.http.inject({ method: 'POST', url: `/v1/docs/${doc}/versions`, headers: bearer(t), payload: { name } })
}

describe('version history (HTTP)', () => {
  it('keeps a named version through compaction and a restart, and reads it, its diff and its authors', async () => {
    const dataDir = tempDir()
    const config = { storage: 'sqlite', dataDir, compactEveryUpdates: 2, hibernateAfterMs: 0 }
    let server = await startTestServer(config)
    const w = new Writer()
    await postUpdate(server, 'yjs/kept', w.append('first draft'))
    const named = await nameVersion(server, 'yjs/kept', 'Draft 1')
    expect(named.statusCode, named.body).toBe(201)
    const id = named.json().version.id as string
    expect(named.json().version).toMatchObject({ name: 'Draft 1', kind: 'named', principal: 'anonymous' })
    for (const word of [' and', ' more', ' words']) await postUpdate(server, 'yjs/kept', w.append(word))
    const live = server.registry.peek({ engine: 'yjs', docId: 'kept' as never })
    await live?.compact()
    expect((await server.http.inject({ url: '/v1/docs/yjs/kept/history' })).json().snapshot).not.toBeNull()
    await server.close()

    server = await startTestServer(config)
    const list = (await server.http.inject({ url: '/v1/docs/yjs/kept/versions' })).json()
    expect(list.versions.map((v: { id: string }) => v.id)).toEqual([id])
    const read = (await server.http.inject({ url: `/v1/docs/yjs/kept/versions/${id}` })).json()
    expect(read.content).toEqual({ t: 'first draft' })
    const diff = (await server.http.inject({ url: `/v1/docs/yjs/kept/versions/${id}/diff?to=current` })).json()
    expect(diff.content).toEqual({ from: { t: 'first draft' }, to: { t: 'first draft and more words' } })
    expect(diff.texts.t).toEqual([{ retain: 'first draft' }, { insert: ' and more words' }])
    expect(diff.changes).toBe(3)
    expect(diff.principals).toEqual(['anonymous'])
    const missing = await server.http.inject({ url: '/v1/docs/yjs/kept/versions/nope' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().code).toBe('MUR_ERR_VERSION_NOT_FOUND')
  })

  it('attributes each stored update to its token subject: which principals changed a range, who wrote each span', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const alice = await token({ 'yjs:shared': 'write' }, { subject: 'alice' })
    const bob = await token({ 'yjs:shared': 'write' }, { subject: 'bob' })
    const w = new Writer()
    await postUpdate(server, 'yjs/shared', w.append('Hello '), alice)
    const v1 = (await nameVersion(server, 'yjs/shared', 'greeting', alice)).json().version
    expect(v1.principal).toBe('alice')
    await postUpdate(server, 'yjs/shared', w.append('world'), bob)
    await postUpdate(server, 'yjs/shared', w.insert(0, '> '), alice)

    const diff = (await server.http.inject({ url: `/v1/docs/yjs/shared/versions/${v1.id}/diff`, headers: bearer(bob) })).json()
    expect(diff.principals).toEqual(['bob', 'alice'])
    const authors = await server.http.inject({ url: '/v1/docs/yjs/shared/versions/current/authors?field=t', headers: bearer(bob) })
    expect(authors.json().spans).toEqual([
      { text: '> Hello ', principal: 'alice' },
      { text: 'world', principal: 'bob' },
    ])
    const atV1 = await server.http.inject({ url: `/v1/docs/yjs/shared/versions/${v1.id}/authors?field=t`, headers: bearer(bob) })
    expect(atV1.json().spans).toEqual([{ text: 'Hello ', principal: 'alice' }])
  })

  it('a read-only token lists and reads versions but cannot create, restore or delete one', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const writer = await token({ 'yjs:guarded': 'write' }, { subject: 'w' })
    const reader = await token({ 'yjs:guarded': 'read' }, { subject: 'r' })
    const w = new Writer()
    await postUpdate(server, 'yjs/guarded', w.append('text'), writer)
    const id = (await nameVersion(server, 'yjs/guarded', 'kept', writer)).json().version.id as string
    await postUpdate(server, 'yjs/guarded', w.append(' later'), writer)

    expect((await server.http.inject({ url: '/v1/docs/yjs/guarded/versions', headers: bearer(reader) })).statusCode).toBe(200)
    expect((await server.http.inject({ url: `/v1/docs/yjs/guarded/versions/${id}`, headers: bearer(reader) })).statusCode).toBe(200)
    const refused = [
      await nameVersion(server, 'yjs/guarded', 'mine', reader),
      await server.http.inject({ method: 'POST', url: `/v1/docs/yjs/guarded/versions/${id}/restore`, headers: bearer(reader) }),
      await server.http.inject({ method: 'DELETE', url: `/v1/docs/yjs/guarded/versions/${id}`, headers: bearer(reader) }),
    ]
    for (const res of refused) {
      expect(res.statusCode).toBe(403)
      expect(res.json().code).toBe('MUR_ERR_FORBIDDEN')
    }
    expect((await server.http.inject({ url: '/v1/docs/yjs/guarded/versions/x', headers: {} })).statusCode).toBe(401)
    const list = (await server.http.inject({ url: '/v1/docs/yjs/guarded/versions', headers: bearer(reader) })).json()
    expect(list.versions.map((v: { name: string }) => v.name)).toEqual(['kept'])
    expect((await server.http.inject({ url: '/v1/docs/yjs/guarded', headers: bearer(reader) })).json().content).toEqual({ t: 'text later' })

    // The writer may delete it.
    const del = await server.http.inject({ method: 'DELETE', url: `/v1/docs/yjs/guarded/versions/${id}`, headers: bearer(writer) })
    expect(del.statusCode).toBe(200)
    expect((await server.http.inject({ url: '/v1/docs/yjs/guarded/versions', headers: bearer(reader) })).json().versions).toEqual([])
  })

  it('restores while a client is offline with edits: both converge on the restored content plus the offline edits; restoring again undoes it', async () => {
    const server = await startTestServer()
    const a = sdkClient(server.url)
    const b = sdkClient(server.url)
    const ha = a.yjs('restored')
    const hb = b.yjs('restored')
    await Promise.all([untilSynced(ha), untilSynced(hb)])
    ha.doc.getText('t').insert(0, 'Title\n')
    await untilSaved(ha)
    await untilText(hb.doc, 't', 'Title\n')
    const v1 = (await nameVersion(server, 'yjs/restored', 'clean')).json().version.id as string
    ha.doc.getText('t').insert(6, 'a mistake\n')
    await untilSaved(ha)
    await untilText(hb.doc, 't', 'Title\na mistake\n')

    b.setOnline(false)
    hb.doc.getText('t').insert(0, 'offline: ')
    const restore = await server.http.inject({ method: 'POST', url: `/v1/docs/yjs/restored/versions/${v1}/restore` })
    expect(restore.statusCode, restore.body).toBe(200)
    expect(restore.json()).toMatchObject({ changed: true, restored: { id: v1 }, before: { kind: 'auto' } })
    await untilText(ha.doc, 't', 'Title\n')
    b.setOnline(true)
    await untilText(hb.doc, 't', 'offline: Title\n')
    await untilText(ha.doc, 't', 'offline: Title\n')

    // The version made before the restore brings the mistake back, as a change on top.
    const undo = await server.http.inject({ method: 'POST', url: `/v1/docs/yjs/restored/versions/${restore.json().before.id}/restore` })
    expect(undo.statusCode).toBe(200)
    await untilText(ha.doc, 't', 'Title\na mistake\n')
    await untilText(hb.doc, 't', 'Title\na mistake\n')
  })

  it('names and restores Automerge versions (heads of the saved doc)', async () => {
    const server = await startTestServer()
    let doc = A.from<{ title: string; n: number; gone?: boolean }>({ title: 'plan', n: 1 })
    await postUpdate(server, 'automerge/board', A.save(doc))
    const id = (await nameVersion(server, 'automerge/board', 'start')).json().version.id as string
    doc = A.change(doc, (d) => {
      d.title = 'plan B'
      d.n = 2
      d.gone = true
    })
    await postUpdate(server, 'automerge/board', A.getLastLocalChange(doc) as Uint8Array)
    expect((await server.http.inject({ url: '/v1/docs/automerge/board' })).json().content).toEqual({ title: 'plan B', n: 2, gone: true })
    expect((await server.http.inject({ method: 'POST', url: `/v1/docs/automerge/board/versions/${id}/restore` })).statusCode).toBe(200)
    expect((await server.http.inject({ url: '/v1/docs/automerge/board' })).json().content).toEqual({ title: 'plan', n: 1 })
    expect((await server.http.inject({ url: `/v1/docs/automerge/board/versions/${id}` })).json().content).toEqual({ title: 'plan', n: 1 })
  })
})

describe('automatic versions', () => {
  it('makes a version after a pause in editing, keeps the newest --auto-version-keep, never removes named ones', async () => {
    const server = await startTestServer({ autoVersionIdleMs: 30, autoVersionIntervalMs: 0, autoVersionKeep: 2 })
    const w = new Writer()
    const named = (await nameVersion(server, 'yjs/auto', 'mine')).json().version.id as string
    const made: string[] = []
    const pruned = once(server.versions, 'removed')
    for (const word of ['one', ' two', ' three']) {
      const stored = once(server.versions, 'stored')
      await postUpdate(server, 'yjs/auto', w.append(word))
      const [, version] = (await within(stored, 10_000, 'an automatic version')) as [unknown, { id: string; kind: string }]
      expect(version.kind).toBe('auto')
      made.push(version.id)
    }
    // Pruning follows the third version: the oldest automatic one goes.
    expect((await within(pruned, 10_000, 'pruning'))[1]).toBe(made[0])
    const kept = (await server.http.inject({ url: '/v1/docs/yjs/auto/versions' })).json().versions as { id: string; kind: string }[]
    expect(kept.map((v) => v.id)).toEqual([named, made[1], made[2]])
    const content = (await server.http.inject({ url: `/v1/docs/yjs/auto/versions/${made[2]}` })).json().content
    expect(content).toEqual({ t: 'one two three' })
  })
})

describe('version history (SDK)', () => {
  it('names, lists, reads, compares and restores through the client, with its token; a reader is refused changes', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const writerToken = await token({ 'yjs:sdk': 'write' }, { subject: 'writer' })
    const readerToken = await token({ 'yjs:sdk': 'read' }, { subject: 'reader' })
    const writer = sdkClient(server.url, { token: writerToken })
    const h = writer.yjs('sdk')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'kept text')
    await untilSaved(h)
    const history = writer.versions('yjs', 'sdk')
    const v = await history.create('Kept')
    expect(v).toMatchObject({ name: 'Kept', kind: 'named', principal: 'writer' })
    h.doc.getText('t').insert(9, ', then more')
    await untilSaved(h)
    expect((await history.list()).map((x) => x.id)).toEqual([v.id])
    expect((await history.get(v.id)).content).toEqual({ t: 'kept text' })
    const diff = await history.diff(v.id)
    expect(diff.texts.t).toEqual([{ retain: 'kept text' }, { insert: ', then more' }])
    expect(diff.principals).toEqual(['writer'])
    expect(await history.authors('current', 't')).toEqual([{ text: 'kept text, then more', principal: 'writer' }])

    const reader = sdkClient(server.url, { token: readerToken }).versions('yjs', 'sdk')
    expect((await reader.list()).length).toBe(1)
    await expect(reader.create('no')).rejects.toMatchObject({ code: 'MUR_ERR_FORBIDDEN', status: 403 })
    await expect(reader.restore(v.id)).rejects.toMatchObject({ code: 'MUR_ERR_FORBIDDEN' })
    await expect(reader.delete(v.id)).rejects.toMatchObject({ code: 'MUR_ERR_FORBIDDEN' })

    const restored = await history.restore(v.id)
    expect(restored.changed).toBe(true)
    await untilText(h.doc, 't', 'kept text')
    expect(await history.authors('current', 't')).toEqual([{ text: 'kept text', principal: 'writer' }])
    await expect(history.get('missing')).rejects.toMatchObject({ code: 'MUR_ERR_VERSION_NOT_FOUND', status: 404 })
  })
})

describe('the doc API from a web app on another origin', () => {
  it('answers a preflight without a token, and the token still decides what a cross-origin call may do', async () => {
    const server = await startTestServer({ authSecret: AUTH_SECRET })
    const origin = { origin: 'https://app.example.com' }
    const preflight = await server.http.inject({
      method: 'OPTIONS',
      url: '/v1/docs/yjs/shared/versions',
      headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('*')
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('authorization')
    expect(String(preflight.headers['access-control-allow-methods'])).toContain('DELETE')

    const refused = await server.http.inject({ url: '/v1/docs/yjs/shared/versions', headers: origin })
    expect(refused.statusCode).toBe(401)
    expect(refused.headers['access-control-allow-origin']).toBe('*')
    const reader = await token({ 'yjs:shared': 'read' })
    const listed = await server.http.inject({ url: '/v1/docs/yjs/shared/versions', headers: { ...origin, ...bearer(reader) } })
    expect(listed.statusCode, listed.body).toBe(200)
    expect(listed.headers['access-control-allow-origin']).toBe('*')
    const made = await server.http.inject({ method: 'POST', url: '/v1/docs/yjs/shared/versions', headers: { ...origin, ...bearer(reader) }, payload: { name: 'x' } })
    expect(made.statusCode).toBe(403)
  })
})
