import { EngineName } from '@murmur/shared'
import { ClientCore, type ClientOptions } from './client.js'
import { YjsHandle } from './yjs/handle.js'
import { AutomergeHandle } from './automerge/handle.js'

/**
 * A Murmur client for every built-in engine: one socket to a node for all docs, a local store on the
 * device, and a handle per open doc. An app that uses one engine takes `YjsClient` from
 * `@murmur/client/yjs` or `AutomergeClient` from `@murmur/client/automerge` and bundles only that one.
 */
export class MurmurClient extends ClientCore {
  /** Open (or return the already open) Yjs doc `docId`. */
  yjs(docId: string): YjsHandle {
    return this.open(EngineName.yjs, docId, (ref, host) => new YjsHandle(docId, ref, host))
  }

  /**
   * Open (or return the already open) Automerge doc `docId`. `T` is the shape of the doc, as the caller
   * knows it. The id of a doc made by an automerge-repo `Repo` synced through a Murmur node is its
   * documentId.
   */
  automerge<T = Record<string, unknown>>(docId: string): AutomergeHandle<T> {
    return this.open(EngineName.automerge, docId, (ref, host) => new AutomergeHandle<T>(docId, ref, host))
  }
}

/** Create a client. */
export function createClient(options: ClientOptions): MurmurClient {
  return new MurmurClient(options)
}
