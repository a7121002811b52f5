import { useSyncExternalStore } from 'react'
import type { AutomergeHandle, DocHandle, YjsHandle } from '@murmur/client'
import { useMurmurClient } from './context.js'

export interface OpenOptions {
  /**
   * Suspend (throw to the nearest `<Suspense>`) until the doc's locally stored state is loaded, so the
   * component never renders a doc that is still empty for want of reading the device's copy.
   */
  readonly suspense?: boolean
}

/** Handles whose local state is in the doc; and the promise to throw for those still loading. */
const loadedHandles = new WeakSet<DocHandle>()
const loading = new WeakMap<DocHandle, Promise<void>>()

function whenLoaded(handle: DocHandle): Promise<void> {
  let promise = loading.get(handle)
  if (promise === undefined) {
    // Marked before the promise settles for React: a retried render finds the handle loaded.
    promise = handle.whenLoaded().then(() => {
      loadedHandles.add(handle)
    })
    loading.set(handle, promise)
  }
  return promise
}

function suspendUntilLoaded(handle: DocHandle, options: OpenOptions | undefined): void {
  const promise = whenLoaded(handle)
  if (options?.suspense === true && !loadedHandles.has(handle)) throw promise
}

/**
 * The Yjs doc `docId` of the provider's client, opened on first use (the client keeps one handle per
 * doc, shared by every component, open until `handle.close()` or `client.close()`).
 */
export function useYjsDoc(docId: string, options?: OpenOptions): YjsHandle {
  const handle = useMurmurClient().yjs(docId)
  suspendUntilLoaded(handle, options)
  return handle
}

/** The Automerge doc `docId` of the provider's client; `T` is its shape. See `useYjsDoc`. */
export function useAutomergeDoc<T>(docId: string, options?: OpenOptions): AutomergeHandle<T> {
  const handle = useMurmurClient().automerge<T>(docId)
  suspendUntilLoaded(handle, options)
  return handle
}

/** Whether the handle's locally stored state is in the doc yet (for rendering a placeholder without Suspense). */
export function useLoaded(handle: DocHandle): boolean {
  return useSyncExternalStore(
    (onChange) => {
      let live = true
      void whenLoaded(handle).then(() => {
        if (live) onChange()
      })
      return () => {
        live = false
      }
    },
    () => loadedHandles.has(handle),
    () => false,
  )
}
