import { createClient, type AutomergeHandle, type DocVersions, type MurmurClient, type YjsHandle } from '@murmur/client'
import { DocIndex, INDEX_DOC_ID } from './doc-index.js'
import { accessToken } from './token.js'
import type { TaskDoc } from '../tasks/model.js'

/** The handles of one open document: its text (Yjs) and its task board (Automerge, same id). */
export interface OpenDoc {
  readonly docId: string
  readonly text: YjsHandle
  readonly tasks: AutomergeHandle<TaskDoc>
  /** The notes' version history (the Yjs doc). */
  readonly versions: DocVersions
}

/**
 * One client, started on the chosen node: the SDK client (IndexedDB store, one socket), the document
 * list, and the open document. The client moves to another member by itself when its node is
 * unreachable (the node menu hands it the members). Switching nodes by hand closes this session and opens
 * another; everything local stays in IndexedDB, and whatever the old node had not acknowledged is re-sent
 * to the new one.
 */
export class Session {
  readonly client: MurmurClient
  readonly index: DocIndex
  /** Docs whose handles are still closing (flushing to IndexedDB); reopening waits for them. */
  private readonly closing = new Map<string, Promise<void>>()

  constructor(
    readonly nodeUrl: string,
    offline: boolean,
  ) {
    const token = accessToken()
    this.client = createClient({ url: nodeUrl, offline, ...(token === null ? {} : { token }) })
    this.index = new DocIndex(this.client.yjs(INDEX_DOC_ID))
  }

  async openDoc(docId: string): Promise<OpenDoc> {
    await this.closing.get(docId)
    return { docId, text: this.client.yjs(docId), tasks: this.client.automerge<TaskDoc>(docId), versions: this.client.versions('yjs', docId) }
  }

  closeDoc(doc: OpenDoc): void {
    const done = Promise.all([doc.text.close(), doc.tasks.close()]).then(
      () => undefined,
      () => undefined,
    )
    this.closing.set(doc.docId, done)
    void done.then(() => {
      if (this.closing.get(doc.docId) === done) this.closing.delete(doc.docId)
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.closing.values())
    await this.client.close()
  }
}
