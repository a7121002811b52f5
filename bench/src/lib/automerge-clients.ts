import WebSocket from 'ws'
import { Repo, type AnyDocumentId, type DocHandle } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { MemoryStore, createClient, type WebSocketConstructor } from '@murmur/client'
import { sleep, withTimeout } from './timing.js'

/** The flat doc the Automerge scenarios edit: writer key → the time it last wrote (performance.now()). */
export type StampDoc = Record<string, number>

/** A real Automerge client: Murmur's SDK handle or an automerge-repo Repo with one doc. */
export interface AmClient {
  /** Set one field (one change). */
  set(key: string, value: number): void
  read(): StampDoc
  /** Called after every change to the doc, local or remote. */
  onChange(listener: (doc: StampDoc) => void): void
  destroy(): Promise<void>
}

export const AmWire = { murmurSdk: 'murmur-sdk', repo: 'automerge-repo' } as const
export type AmWire = (typeof AmWire)[keyof typeof AmWire]

/** Murmur's SDK on /sync: any doc id; resolves once synced with the server. */
export async function openMurmurAm(httpBase: string, docId: string): Promise<AmClient> {
  const client = createClient({ url: httpBase, WebSocket: WebSocket as unknown as WebSocketConstructor, store: new MemoryStore(), crossTab: false })
  const handle = client.automerge<StampDoc>(docId)
  await withTimeout(handle.whenSynced(), 30_000, 'Automerge handle sync')
  return {
    set: (key, value) => handle.change((d) => void (d[key] = value)),
    read: () => handle.doc(),
    onChange: (l) => void handle.on('change', l),
    destroy: () => client.close(),
  }
}

/**
 * An unmodified automerge-repo Repo (no storage) connected to `wsUrl`. With no `docId` it creates the
 * doc; otherwise it finds it through the server, trying again (with a fresh Repo) while the server does
 * not have it yet: a doc a peer just created reaches the server a moment later.
 */
export async function openRepoAm(wsUrl: string, docId: string | null): Promise<{ client: AmClient; docId: string }> {
  const deadline = performance.now() + 30_000
  for (;;) {
    const repo = new Repo({ network: [new WebSocketClientAdapter(wsUrl, 1000)] })
    let handle: DocHandle<StampDoc>
    try {
      handle = docId === null ? repo.create<StampDoc>({}) : await withTimeout(repo.find<StampDoc>(docId as AnyDocumentId), 10_000, 'automerge-repo find')
    } catch (err) {
      await repo.shutdown()
      if (performance.now() > deadline) throw err
      await sleep(200)
      continue
    }
    return {
      docId: handle.documentId,
      client: {
        set: (key, value) => handle.change((d) => void (d[key] = value)),
        read: () => handle.doc(),
        onChange: (l) => void handle.on('change', ({ doc }) => l(doc)),
        destroy: () => repo.shutdown(),
      },
    }
  }
}
