import { EngineName } from '@murmur/shared/automerge'
import { ClientCore } from '../client.js'
import { AutomergeHandle } from './handle.js'

/** A client for Automerge docs: an app that uses it bundles nothing of Yjs's engine adapter. */
export class AutomergeClient extends ClientCore {
  /**
   * Open (or return the already open) Automerge doc `docId`. `T` is the shape of the doc, as the caller
   * knows it. The id of a doc made by an automerge-repo `Repo` synced through a Murmur node is its
   * documentId.
   */
  automerge<T = Record<string, unknown>>(docId: string): AutomergeHandle<T> {
    return this.open(EngineName.automerge, docId, (ref, host) => new AutomergeHandle<T>(docId, ref, host))
  }
}
