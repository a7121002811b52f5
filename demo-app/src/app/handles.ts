import type { HandleStatus } from '@murmur/client'

/** What the status badge needs from any doc handle, Yjs or Automerge. */
export interface StatusSource {
  readonly status: HandleStatus
  readonly unsavedCount: number
  on(event: 'status', listener: (status: HandleStatus) => void): () => void
  on(event: 'unsaved', listener: (count: number) => void): () => void
}
