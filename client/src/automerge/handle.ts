import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { MessageType, automergeEngine, automergeValueOf, changeAutomerge } from '@murmur/shared/automerge'
import { DocHandle, type HandleEvents, type HandleHost } from '../handles/doc-handle.js'
import { PresenceRelay } from '../handles/presence.js'

export interface AutomergeHandleEvents<T> extends HandleEvents {
  /** The doc changed: a local `change`, an edit from the server or another tab, or the local load. */
  change(doc: T): void
}

/**
 * An Automerge doc kept on the device and synced with a server. Read it with `doc()`, edit it with
 * `change()`, and listen for `change` events; set presence on `awareness`.
 *
 * Strings in the doc are collaborative text: edit them inside `change` with Automerge's splice as
 * `@murmur/shared` exports it (the engine's own Automerge instance). Give a new doc its shape only once `whenLoaded()` resolved (and, for a doc that
 * may already exist on the server, `whenSynced()`): two replicas that each create the same field
 * concurrently keep one of the two values, not both.
 */
export class AutomergeHandle<T = Record<string, unknown>> extends DocHandle {
  /**
   * Presence: y-protocols awareness (over a Y.Doc of its own that holds nothing), relayed by the server
   * like a Yjs doc's. Set `awareness.setLocalState(...)`; listen to `awareness.on('change', ...)`.
   */
  readonly awareness: Awareness
  private readonly changeListeners = new Set<(doc: T) => void>()
  private readonly offChange: () => void

  constructor(docId: string, ref: number, host: HandleHost) {
    super(automergeEngine, docId, ref, automergeEngine.create(), host)
    // Every change, whatever its origin, is a new value for the listeners.
    this.offChange = this.engineDoc.onUpdate(() => {
      if (this.changeListeners.size === 0) return
      const value = this.doc()
      for (const l of [...this.changeListeners]) l(value)
    })
    this.awareness = new Awareness(new Y.Doc())
    this.presence = new PresenceRelay(
      this.awareness,
      (payload) => this.sendMessage({ type: MessageType.awareness, ref: this.ref, payload }),
      () => this.isOpenOnServer,
    )
  }

  /** The current value (read-only: edit through `change`). */
  doc(): T {
    return automergeValueOf(this.engineDoc) as T
  }

  /**
   * Edit the doc: `fn` gets a mutable draft. The change is stored locally, then sent; `message` is kept
   * in the doc's history. A callback that changes nothing makes no change.
   */
  change(fn: (d: T) => void, message?: string): void {
    changeAutomerge<T>(this.engineDoc, fn, message === undefined ? {} : { message })
  }

  override on<K extends keyof AutomergeHandleEvents<T>>(event: K, listener: AutomergeHandleEvents<T>[K]): () => void {
    if (event === 'change') {
      const l = listener as (doc: T) => void
      this.changeListeners.add(l)
      return () => this.changeListeners.delete(l)
    }
    return super.on(event as keyof HandleEvents, listener as HandleEvents[keyof HandleEvents])
  }

  override async close(): Promise<void> {
    this.offChange()
    this.changeListeners.clear()
    await super.close()
  }
}
