import type { HandleStatus, MurmurClient } from '@murmur/client'

/** What the status badge needs from any doc handle, Yjs or Automerge. */
export interface StatusSource {
  readonly status: HandleStatus
  readonly unsavedCount: number
  on(event: 'status', listener: (status: HandleStatus) => void): () => void
  on(event: 'unsaved', listener: (count: number) => void): () => void
}

/** The part of the SDK's Automerge handle the task board uses. */
export interface AutomergeDocHandle<T> extends StatusSource {
  /** The current document (read-only; write through `change`). */
  doc(): T
  change(fn: (draft: T) => void): void
  on(event: 'change', listener: () => void): () => void
  on(event: 'status', listener: (status: HandleStatus) => void): () => void
  on(event: 'unsaved', listener: (count: number) => void): () => void
  whenLoaded(): Promise<void>
  close(): Promise<void>
}

/**
 * Open an Automerge doc when this build of the SDK has the Automerge engine, else null (the task board
 * then says so instead of failing the whole page).
 */
export function openAutomerge<T>(client: MurmurClient, docId: string): AutomergeDocHandle<T> | null {
  const factory = (client as unknown as { automerge?: unknown }).automerge
  if (typeof factory !== 'function') return null
  return (factory as (id: string) => AutomergeDocHandle<T>).call(client, docId)
}
