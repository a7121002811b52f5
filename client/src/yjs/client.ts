import { EngineName } from '@murmur/shared/yjs'
import { ClientCore } from '../client.js'
import { YjsHandle } from './handle.js'

/** A client for Yjs docs: an app that uses it bundles nothing of Automerge. */
export class YjsClient extends ClientCore {
  /** Open (or return the already open) Yjs doc `docId`. */
  yjs(docId: string): YjsHandle {
    return this.open(EngineName.yjs, docId, (ref, host) => new YjsHandle(docId, ref, host))
  }
}
