import { describe, expect, it } from 'vitest'
import type { AutomergeHandle } from '../../client/dist/index.js'
import { HandleStatus, MemoryStore } from '../../client/dist/index.js'
import { MessageType } from '@murmur/shared'
import { spawnNode, startTestServer, tempDir } from '../support/servers.js'
import { freePort } from '../support/ports.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { until } from '../support/wait.js'
import * as A from '@automerge/automerge'

interface Notes {
  title?: string
  items?: string[]
}

/** Resolve once `check` holds for the handle's doc, re-checked on every change event. */
function untilDoc<T>(handle: AutomergeHandle<T>, check: (doc: T) => boolean, what: string, ms = 30_000): Promise<void> {
  return until(() => check(handle.doc()), (cb) => handle.on('change', cb), ms, what)
}

/** The change chunks of a sync message (Automerge concatenates several changes in one entry). */
function changesIn(syncMessage: Uint8Array): A.DecodedChange[] {
  const out: A.DecodedChange[] = []
  for (const entry of A.decodeSyncMessage(syncMessage).changes) {
    let pos = 0
    while (pos < entry.length) {
      const start = pos
      pos += 9 // magic, checksum, chunk type
      let length = 0
      for (let shift = 0; ; shift += 7) {
        const byte = entry[pos++]
        length += (byte & 0x7f) * 2 ** shift
        if ((byte & 0x80) === 0) break
      }
      pos += length
      out.push(A.decodeChange(entry.subarray(start, pos)))
    }
  }
  return out
}

function items(handle: AutomergeHandle<Notes>): string[] {
  return [...(handle.doc().items ?? [])]
}

describe('client SDK: Automerge docs', () => {
  it('offline edits reach the server and a second client on reconnect; concurrent edits converge', async () => {
    const server = await startTestServer()
    const a = sdkClient(server.url)
    const ha = a.automerge<Notes>('shopping')
    await untilSynced(ha)
    ha.change((d) => {
      d.title = 'Shopping'
      d.items = ['bread']
    })
    await untilSaved(ha)

    // A goes offline and keeps editing; every edit is kept locally and counted as unsaved.
    a.setOnline(false)
    expect(ha.status).toBe(HandleStatus.offline)
    const changes: Notes[] = []
    ha.on('change', (doc) => changes.push(doc))
    ha.change((d) => d.items!.push('milk'))
    ha.change((d) => d.items!.push('eggs'), 'two more')
    expect(changes.length).toBe(2)
    expect(ha.unsavedCount).toBe(2)

    // Meanwhile B, online, sees what A saved before and adds its own item.
    const b = sdkClient(server.url)
    const hb = b.automerge<Notes>('shopping')
    await untilSynced(hb)
    expect(hb.doc().title).toBe('Shopping')
    hb.change((d) => d.items!.push('coffee'))
    await untilSaved(hb)

    a.setOnline(true)
    await untilSynced(ha)
    expect(ha.unsavedCount).toBe(0)
    const all = ['bread', 'milk', 'eggs', 'coffee']
    const complete = (doc: Notes): boolean => all.every((x) => doc.items?.includes(x) === true)
    await untilDoc(ha, complete, 'A to see B’s item')
    await untilDoc(hb, complete, 'B to see A’s offline items')
    expect(items(ha)).toEqual(items(hb))
    const live = await server.registry.get({ engine: 'automerge', docId: 'shopping' as never })
    expect((live.doc.toJSON() as Notes).items).toEqual(items(ha))
    expect(live.doc.version()).toBeTypeOf('string')
  })

  it('a reload on the same store keeps offline edits and sends them once online', async () => {
    const server = await startTestServer()
    const store = new MemoryStore()
    const first = sdkClient(server.url, { store, offline: true })
    const h1 = first.automerge<Notes>('draft')
    await h1.whenLoaded()
    h1.change((d) => {
      d.items = []
    })
    for (let i = 0; i < 20; i++) h1.change((d) => d.items!.push(`line ${i}`))
    await h1.whenStored()
    expect(store.outboxSize('automerge:draft')).toBe(21)

    // The tab dies without closing; a new client on the same store is the reload.
    const reloaded = sdkClient(server.url, { store, offline: true })
    const h2 = reloaded.automerge<Notes>('draft')
    await h2.whenLoaded()
    expect(items(h2)).toEqual(items(h1))
    expect(h2.unsavedCount).toBe(21)
    reloaded.setOnline(true)
    await untilSaved(h2)
    await untilSynced(h2)
    expect(store.outboxSize('automerge:draft')).toBe(0)
    const live = await server.registry.get({ engine: 'automerge', docId: 'draft' as never })
    expect((live.doc.toJSON() as Notes).items).toEqual(items(h1))
  })

  it('after a server restart the client syncs again from a fresh session (kill -9, same data)', async () => {
    const dataDir = tempDir()
    const port = await freePort()
    const node = await spawnNode(['--port', String(port), '--data-dir', dataDir])
    const a = sdkClient(node.url, { backoffInitialMs: 50, backoffMaxMs: 500 })
    const ha = a.automerge<Notes>('restart')
    await untilSynced(ha)
    ha.change((d) => {
      d.items = ['before']
    })
    await untilSynced(ha)

    await node.kill('SIGKILL')
    await until(() => ha.status !== HandleStatus.synced, (cb) => ha.on('status', cb), 10_000, 'the drop to be noticed')
    ha.change((d) => d.items!.push('while down'))
    await spawnNode(['--port', String(port), '--data-dir', dataDir])
    await untilSynced(ha)
    expect(ha.unsavedCount).toBe(0)

    // A second client gets both edits from the restarted node, and its own edit reaches the first.
    const b = sdkClient(node.url)
    const hb = b.automerge<Notes>('restart')
    await untilSynced(hb)
    expect(items(hb)).toEqual(['before', 'while down'])
    hb.change((d) => d.items!.push('after'))
    await untilDoc(ha, (doc) => doc.items?.includes('after') === true, 'the first client to see the edit made after the restart')
    expect(items(ha)).toEqual(items(hb))
  })

  it('a writer gets the others’ changes, and never its own back', async () => {
    const server = await startTestServer()
    const a = sdkClient(server.url).automerge<Notes>('echo')
    const b = sdkClient(server.url).automerge<Notes>('echo')
    await Promise.all([untilSynced(a), untilSynced(b)])
    a.change((d) => {
      d.items = []
    })
    await untilDoc(b, (d) => Array.isArray(d.items), 'B to see the list')
    const actorA = A.getActorId(a.doc() as A.Doc<Notes>)
    let own = 0
    let others = 0
    const receive = a.receive.bind(a)
    a.receive = (msg) => {
      if (msg.type === MessageType.sync) {
        for (const c of changesIn(msg.payload)) {
          if (c.actor === actorA) own++
          else others++
        }
      }
      receive(msg)
    }
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 3; i++) a.change((d) => d.items!.push(`a${round}.${i}`))
      await untilSaved(a)
      b.change((d) => d.items!.push(`b${round}`))
      await untilDoc(a, (d) => d.items?.includes(`b${round}`) === true, `A to see b${round}`)
    }
    expect(others).toBe(10)
    expect(own).toBe(0)
  })

  it('presence travels between Automerge handles', async () => {
    const server = await startTestServer()
    const ha = sdkClient(server.url).automerge<Notes>('presence')
    const hb = sdkClient(server.url).automerge<Notes>('presence')
    await Promise.all([untilSynced(ha), untilSynced(hb)])
    ha.awareness.setLocalState({ user: 'ada', cursor: 3 })
    const seen = (): boolean => [...hb.awareness.getStates().values()].some((s) => (s as { user?: string }).user === 'ada')
    await until(seen, (cb) => {
      hb.awareness.on('change', cb)
      return () => hb.awareness.off('change', cb)
    }, 10_000, 'B to see A’s presence')
  })

  it('across two cluster nodes: offline edits on one node reach a client of the other', async () => {
    const [n1, n2] = await startCluster(2)
    await untilMeshed([n1, n2])
    const a = sdkClient(n1.url)
    const ha = a.automerge<Notes>('cross-node')
    await untilSynced(ha)
    ha.change((d) => {
      d.items = ['from A']
    })
    await untilSaved(ha)
    const b = sdkClient(n2.url)
    const hb = b.automerge<Notes>('cross-node')
    await untilDoc(hb, (doc) => doc.items?.includes('from A') === true, 'B on node 2 to see A’s edit')

    a.setOnline(false)
    ha.change((d) => d.items!.push('A offline'))
    hb.change((d) => d.items!.push('B online'))
    await untilSaved(hb)
    a.setOnline(true)
    await untilSynced(ha)
    const complete = (doc: Notes): boolean => ['from A', 'A offline', 'B online'].every((x) => doc.items?.includes(x) === true)
    await untilDoc(ha, complete, 'A to converge')
    await untilDoc(hb, complete, 'B to converge')
    expect(items(ha)).toEqual(items(hb))
    // Both nodes hold the same version of the doc.
    const versions = await Promise.all(
      [n1, n2].map(async (n) => (await n.registry.get({ engine: 'automerge', docId: 'cross-node' as never })).doc.version()),
    )
    expect(versions[0]).toBe(versions[1])
  })
})
