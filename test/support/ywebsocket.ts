import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { onTestFinished } from 'vitest'
import { until, onEvent } from './wait.js'

// Under Node every provider adds a process 'exit' listener until it is destroyed; a test may hold more
// than the default 10 at once, which is not a leak.
process.setMaxListeners(Math.max(process.getMaxListeners(), 64))

/** An unmodified y-websocket client on `/yjs/<doc>` of a node, destroyed when the test finishes. */
export function yProvider(httpUrl: string, docId: string, doc = new Y.Doc()): WebsocketProvider {
  const provider = new WebsocketProvider(httpUrl.replace(/^http/u, 'ws') + '/yjs', docId, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  onTestFinished(() => {
    provider.destroy()
    doc.destroy()
  })
  return provider
}

/** Resolve once the provider has synced with the server. */
export function whenProviderSynced(provider: WebsocketProvider, ms = 20_000): Promise<void> {
  return until(() => provider.synced, onEvent(provider, 'sync'), ms, 'y-websocket sync')
}

/** Resolve once `text()` equals `expected`, re-checking on every update of `doc`. */
export function untilText(doc: Y.Doc, name: string, expected: string, ms = 20_000): Promise<void> {
  return until(() => doc.getText(name).toString() === expected, onEvent(doc, 'update'), ms, `text "${expected.slice(0, 30)}"`)
}
