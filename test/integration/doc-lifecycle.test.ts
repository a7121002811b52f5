import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { EngineName, ErrorCode, asDocId, closeCodeFor } from '@murmur/shared'
import { MemoryDisk, MemoryStorage, type SqliteStorage } from '../../server/dist/index.js'
import { startTestServer, tempDir, spawnNode, wsUrl } from '../support/servers.js'
import { InstrumentedStorage } from '../support/storage-wrappers.js'
import { untilText, whenProviderSynced, yProvider } from '../support/ywebsocket.js'
import { onEvent, until, within } from '../support/wait.js'

const key = (id: string) => ({ engine: EngineName.yjs, docId: asDocId(id) })

async function storeText(disk: MemoryDisk, docId: string, text: string): Promise<void> {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  const storage = new MemoryStorage(disk)
  await storage.append(key(docId), Y.encodeStateAsUpdate(doc))
  await storage.close()
}

/** Open a raw socket and resolve with its close code. */
function rawSocket(url: string): { ws: WebSocket; opened: Promise<void>; closed: Promise<number> } {
  const ws = new WebSocket(url)
  ws.on('error', () => undefined)
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  return { ws, opened, closed }
}

describe('doc lifecycle', () => {
  it('50 providers opening one cold doc at once cause one storage read, and all get the content', async () => {
    const disk = new MemoryDisk()
    const content = 'cold content '.repeat(100)
    await storeText(disk, 'cold', content)
    const storage = new InstrumentedStorage(new MemoryStorage(disk))
    let release!: () => void
    storage.loadGate = new Promise((resolve) => (release = resolve))
    const server = await startTestServer({}, { storage })

    const providers = Array.from({ length: 50 }, () => yProvider(server.url, 'cold'))
    // Hold the load until every socket is open, so all 50 really wait on it at once.
    await Promise.all(providers.map((p) => until(() => p.wsconnected, onEvent(p, 'status'), 20_000, 'socket open')))
    release()
    await Promise.all(providers.map((p) => whenProviderSynced(p)))
    await Promise.all(providers.map((p) => untilText(p.doc, 't', content)))
    expect(storage.loads).toBe(1)
  })

  it('a failed load closes the sockets with LOAD_FAILED and never overwrites the stored doc', async () => {
    const disk = new MemoryDisk()
    await storeText(disk, 'precious', 'do not lose me')
    const storage = new InstrumentedStorage(new MemoryStorage(disk))
    storage.failLoads = true
    const server = await startTestServer({}, { storage })

    const raw = rawSocket(wsUrl(server.url, '/yjs/precious'))
    // An empty update as SyncStep2 and a real edit, sent before the load fails: neither may be stored.
    const edit = new Y.Doc()
    edit.getText('t').insert(0, 'overwrite attempt')
    await raw.opened
    raw.ws.send(Uint8Array.from([0, 1, ...lengthPrefixed(Y.encodeStateAsUpdate(edit))]))
    expect(await within(raw.closed, 10_000, 'close')).toBe(4500)
    expect(storage.appends).toBe(0)

    storage.failLoads = false
    const reader = yProvider(server.url, 'precious')
    await whenProviderSynced(reader)
    expect(reader.doc.getText('t').toString()).toBe('do not lose me')
  })

  it('bad input closes only that socket with a clear code; others go on and the doc is unharmed', async () => {
    const server = await startTestServer({ maxFrameBytes: 64 * 1024 })
    const writer = yProvider(server.url, 'target')
    await whenProviderSynced(writer)
    writer.doc.getText('t').insert(0, 'intact')

    const oversized = rawSocket(wsUrl(server.url, '/yjs/target'))
    await oversized.opened
    oversized.ws.send(new Uint8Array(128 * 1024))
    expect(await within(oversized.closed, 10_000, 'close')).toBe(1009)

    const garbage = rawSocket(wsUrl(server.url, '/yjs/target'))
    await garbage.opened
    garbage.ws.send(Uint8Array.from([0, 2, 10, 1, 2, 3, 255, 255, 255, 255, 255, 7]))
    expect(await within(garbage.closed, 10_000, 'close')).toBe(4400)

    const unknown = rawSocket(wsUrl(server.url, '/yjs/target'))
    await unknown.opened
    unknown.ws.send(Uint8Array.from([42]))
    expect(await within(unknown.closed, 10_000, 'close')).toBe(4400)

    const text = rawSocket(wsUrl(server.url, '/yjs/target'))
    await text.opened
    text.ws.send('hello')
    expect(await within(text.closed, 10_000, 'close')).toBe(4400)

    const badId = rawSocket(wsUrl(server.url, '/yjs/%E0%A4%A'))
    expect(await within(badId.closed, 10_000, 'close')).toBe(4400)

    writer.doc.getText('t').insert(6, ' and alive')
    const reader = yProvider(server.url, 'target')
    await whenProviderSynced(reader)
    await untilText(reader.doc, 't', 'intact and alive')
  })

  it('unloads idle docs after the configured time', async () => {
    const server = await startTestServer({ idleUnloadMs: 50 })
    const p = yProvider(server.url, 'idle-doc')
    await whenProviderSynced(p)
    expect(server.registry.loadedCount).toBe(1)
    const unloaded = new Promise((resolve) => server.registry.once('unload', resolve))
    p.destroy()
    await within(unloaded, 10_000, 'unload')
    expect(server.registry.loadedCount).toBe(0)
  })
})

describe('durability across restarts (real processes)', () => {
  it('a dead SQLite writer makes the node unhealthy and every write fail with a clear error, not hang', async () => {
    const server = await startTestServer({ storage: 'sqlite', dataDir: tempDir() })
    const base = `http://127.0.0.1:${server.port}`
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
    await (server.storage as SqliteStorage).killWriter()
    for (const path of ['/readyz', '/healthz']) {
      const res = await fetch(`${base}${path}`)
      expect(res.status).toBe(503)
      expect(await res.json()).toMatchObject({ status: 'storage-failed', error: expect.stringContaining('writer thread exited') })
    }
    // A write through y-websocket closes its socket with STORAGE_FAILED's code.
    const p = yProvider(base, 'after-crash')
    await whenProviderSynced(p)
    const closed = new Promise<number>((resolve) => p.once('connection-close', (event: CloseEvent | null) => resolve(event?.code ?? 0)))
    p.doc.getText('t').insert(0, 'lost?')
    expect(await within(closed, 10_000, 'the socket to close')).toBe(closeCodeFor[ErrorCode.STORAGE_FAILED])
  })

  it('restart: every doc is back', async () => {
    const dataDir = tempDir()
    const node = await spawnNode(['--port', '0', '--data-dir', dataDir])
    const docs = ['alpha', 'beta', 'gamma']
    for (const id of docs) {
      const p = yProvider(node.url, id)
      await whenProviderSynced(p)
      p.doc.getText('t').insert(0, `content of ${id}`)
    }
    await node.kill('SIGTERM')
    const again = await spawnNode(['--port', '0', '--data-dir', dataDir])
    for (const id of docs) {
      const p = yProvider(again.url, id)
      await whenProviderSynced(p)
      await untilText(p.doc, 't', `content of ${id}`)
    }
  })

  it('kill -9 during a stream of updates: the doc loads, uncorrupted, holding an unbroken prefix of the stream', async () => {
    const dataDir = tempDir()
    const node = await spawnNode(['--port', '0', '--data-dir', dataDir])
    const writer = yProvider(node.url, 'stream')
    await whenProviderSynced(writer)
    const arr = writer.doc.getArray<number>('a')
    const reader = yProvider(node.url, 'stream')
    await whenProviderSynced(reader)
    // Stream 2000 updates; kill the node once the reader saw 300 of them go through the server.
    for (let i = 0; i < 2000; i++) arr.push([i])
    const seen = reader.doc.getArray<number>('a')
    await until(() => seen.length >= 300, onEvent(reader.doc, 'update'), 20_000, '300 updates through the server')
    await node.kill('SIGKILL')
    writer.destroy()
    reader.destroy()

    const again = await spawnNode(['--port', '0', '--data-dir', dataDir])
    const check = yProvider(again.url, 'stream')
    await whenProviderSynced(check)
    const values = check.doc.getArray<number>('a').toArray()
    expect(values.length).toBeGreaterThan(0)
    expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i))
  })
})

function lengthPrefixed(bytes: Uint8Array): number[] {
  const out: number[] = []
  let n = bytes.length
  while (n > 127) {
    out.push((n & 127) | 128)
    n >>>= 7
  }
  out.push(n)
  return [...out, ...bytes]
}
