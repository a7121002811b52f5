import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { MessageType, wrapYDoc, yjsEngine } from '@murmur/shared'
import { DocHandle, Origin, type HandleHost } from './doc-handle.js'

interface AwarenessChange {
  added: number[]
  updated: number[]
  removed: number[]
}

/**
 * A Yjs doc kept on the device and synced with a server. Edit `handle.doc` as any Y.Doc; set presence
 * on `handle.awareness`.
 */
export class YjsHandle extends DocHandle {
  readonly doc: Y.Doc
  readonly awareness: Awareness
  private readonly onAwarenessChange: (change: AwarenessChange, origin: unknown) => void

  constructor(docId: string, ref: number, host: HandleHost) {
    const doc = new Y.Doc()
    super(yjsEngine, docId, ref, wrapYDoc(doc), host)
    this.doc = doc
    this.awareness = new Awareness(doc)
    this.onAwarenessChange = ({ added, updated, removed }, origin) => {
      if (origin === Origin.server) return
      const changed = added.concat(updated, removed)
      this.sendAwareness(encodeAwarenessUpdate(this.awareness, changed))
    }
    this.awareness.on('update', this.onAwarenessChange)
  }

  private sendAwareness(payload: Uint8Array): void {
    if (this.isOpenOnServer) this.sendRaw(payload)
  }

  protected override onAttached(): void {
    if (this.awareness.getLocalState() !== null) {
      this.sendRaw(encodeAwarenessUpdate(this.awareness, [this.doc.clientID]))
    }
  }

  protected override onDetached(): void {
    // Others' presence is unknown while disconnected; the server re-sends it on reconnect.
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID)
    if (others.length > 0) removeAwarenessStates(this.awareness, others, Origin.server)
  }

  protected override onAwareness(payload: Uint8Array): void {
    try {
      applyAwarenessUpdate(this.awareness, payload, Origin.server)
    } catch {
      // A malformed presence update is not worth a reconnect.
    }
  }

  override async close(): Promise<void> {
    // Tell the others we left before the doc goes away.
    this.awareness.setLocalState(null)
    this.awareness.off('update', this.onAwarenessChange)
    this.awareness.destroy()
    await super.close()
  }

  private sendRaw(payload: Uint8Array): void {
    this.sendMessage({ type: MessageType.awareness, ref: this.ref, payload })
  }
}
