import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { MessageType, wrapYDoc, yjsEngine } from '@murmur/shared/yjs'
import { DocHandle, type HandleHost } from '../handles/doc-handle.js'
import { PresenceRelay } from '../handles/presence.js'

/**
 * A Yjs doc kept on the device and synced with a server. Edit `handle.doc` as any Y.Doc; set presence
 * on `handle.awareness`.
 */
export class YjsHandle extends DocHandle {
  readonly doc: Y.Doc
  readonly awareness: Awareness

  constructor(docId: string, ref: number, host: HandleHost) {
    const doc = new Y.Doc()
    super(yjsEngine, docId, ref, wrapYDoc(doc), host)
    this.doc = doc
    this.awareness = new Awareness(doc)
    this.presence = new PresenceRelay(
      this.awareness,
      (payload) => this.sendMessage({ type: MessageType.awareness, ref: this.ref, payload }),
      () => this.isOpenOnServer,
    )
  }
}
