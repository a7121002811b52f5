import type { DocKey } from '../storage/storage.js'
import type { DocSubscriber, LiveDoc } from './live-doc.js'
import type { DocRegistry } from './registry.js'

/**
 * An endpoint's hold on one doc, whatever its protocol: it subscribes at once, and what arrives while
 * the doc loads waits, in order, until it has loaded. Endpoints open docs only through `openDoc`, hand
 * messages on with `toDoc` and let go with `closeDoc`, so "load once, queue, replay" is written once.
 *
 * The fields live on the endpoint's own subscriber object (one per doc and socket): an idle socket
 * holds nothing more than before.
 */
export interface DocClient<M> extends DocSubscriber {
  /** The loaded doc; null while it loads, and after a load that failed. */
  doc: LiveDoc | null
  /** Messages that arrived while the doc loaded, in order (null: none). */
  queued: M[] | null
  /** The client let the doc go (its socket or the doc closed): a load finishing later is released at once. */
  released: boolean
  /** The doc has loaded: start the client's session on it. Queued messages are handled right after. */
  opened(doc: LiveDoc): void
  /** One message for the loaded doc; what it throws while queued messages are replayed goes to `broke`. */
  handle(msg: M): void
  /** The doc could not be loaded (it is not served, rather than served empty). */
  loadFailed(err: unknown): void
  /** A queued message, replayed once the doc loaded, threw. */
  broke(err: unknown): void
}

/** Load (once, however many ask) and subscribe `client` to the doc. */
export function openDoc<M>(registry: DocRegistry, key: DocKey, client: DocClient<M>): void {
  registry.acquire(key, client).then(
    (doc) => {
      if (client.released) {
        registry.release(doc, client)
        return
      }
      client.doc = doc
      client.opened(doc)
      const queued = client.queued
      client.queued = null
      if (queued === null) return
      try {
        for (const msg of queued) if (!client.released) client.handle(msg)
      } catch (err) {
        client.broke(err)
      }
    },
    (err: unknown) => client.loadFailed(err),
  )
}

/** Hand `msg` to the client's doc now, or once it has loaded. */
export function toDoc<M>(client: DocClient<M>, msg: M): void {
  if (client.doc === null) (client.queued ??= []).push(msg)
  else client.handle(msg)
}

/** Let the doc go: unsubscribe now, or as soon as a load in progress finishes. */
export function closeDoc<M>(registry: DocRegistry, client: DocClient<M>): void {
  if (client.released) return
  client.released = true
  client.queued = null
  if (client.doc !== null) registry.release(client.doc, client)
}
