import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { MemoryStore, createClient, type WebSocketConstructor } from '@murmur/client'
import { Wire, type System } from './systems.js'

/**
 * A real client of a system, as an app would use it: Murmur's SDK, y-websocket's `WebsocketProvider`, or
 * Hocuspocus's `HocuspocusProvider`, each with its own Y.Doc and its own socket.
 */
export interface DocClient {
  readonly doc: Y.Doc
  /** The client's own notion of "in sync with the server" (Murmur: synced status, incl. acks). */
  readonly synced: boolean
  /** Called on every change of `synced`. */
  onSynced(listener: (synced: boolean) => void): void
  destroy(): Promise<void>
}

export function whenSynced(client: DocClient): Promise<void> {
  if (client.synced) return Promise.resolve()
  return new Promise((resolve) => client.onSynced((s) => s && resolve()))
}

class Listeners {
  private readonly fns: ((synced: boolean) => void)[] = []
  add(fn: (synced: boolean) => void): void {
    this.fns.push(fn)
  }
  emit(synced: boolean): void {
    for (const fn of this.fns) fn(synced)
  }
}

function murmurClient(httpBase: string, docId: string): DocClient {
  const client = createClient({
    url: httpBase,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    store: new MemoryStore(),
    crossTab: false,
  })
  const handle = client.yjs(docId)
  const listeners = new Listeners()
  let last = handle.status === 'synced'
  handle.on('status', (s) => {
    const now = s === 'synced'
    if (now !== last) {
      last = now
      listeners.emit(now)
    }
  })
  return {
    doc: handle.doc,
    get synced() {
      return handle.status === 'synced'
    },
    onSynced: (fn) => listeners.add(fn),
    destroy: () => client.close(),
  }
}

function yWebsocketClient(serverUrl: string, docId: string): DocClient {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(serverUrl, docId, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  const listeners = new Listeners()
  provider.on('sync', (synced: boolean) => listeners.emit(synced))
  return {
    doc,
    get synced() {
      return provider.synced
    },
    onSynced: (fn) => listeners.add(fn),
    async destroy() {
      provider.destroy()
      doc.destroy()
    },
  }
}

function hocuspocusClient(wsBase: string, docId: string): DocClient {
  const doc = new Y.Doc()
  const socket = new HocuspocusProviderWebsocket({ url: wsBase, WebSocketPolyfill: WebSocket })
  const provider = new HocuspocusProvider({ websocketProvider: socket, name: docId, document: doc })
  provider.attach()
  const listeners = new Listeners()
  let last = false
  provider.on('synced', ({ state }: { state: boolean }) => {
    if (state !== last) {
      last = state
      listeners.emit(state)
    }
  })
  // The provider clears its synced flag when the socket closes but emits 'synced' only for true.
  provider.on('disconnect', () => {
    if (last) {
      last = false
      listeners.emit(false)
    }
  })
  return {
    doc,
    get synced() {
      return provider.isSynced
    },
    onSynced: (fn) => listeners.add(fn),
    async destroy() {
      provider.destroy()
      socket.destroy()
      doc.destroy()
    },
  }
}

/** Open a real client of `system` on `docId`; `httpBase` is http://127.0.0.1:port. */
export function openDocClient(system: System, httpBase: string, docId: string): DocClient {
  const wsBase = httpBase.replace(/^http/, 'ws')
  switch (system.wire) {
    case Wire.murmur:
      return murmurClient(httpBase, docId)
    case Wire.hocuspocus:
      return hocuspocusClient(system.wireUrl(wsBase, docId), docId)
    case Wire.yWebsocket:
      return yWebsocketClient(system.server === 'murmur' ? `${wsBase}/yjs` : wsBase, docId)
  }
}
