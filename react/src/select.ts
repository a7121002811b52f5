import { useCallback, useRef, useSyncExternalStore } from 'react'
import type { AutomergeHandle, YjsHandle } from '@murmur/client'
import { valueEqual } from './equal.js'

type YDoc = YjsHandle['doc']

/** How a hook learns of changes and reads the current value. */
interface Source<S> {
  subscribe(onChange: () => void): () => void
  read(): S
}

/**
 * The selected part of a changing value, through `useSyncExternalStore` (no tearing): the selector runs
 * once per change of the source, and the component re-renders only when its result differs (by
 * `isEqual`) from the last one.
 */
function useSelected<S, R>(source: Source<S>, select: (value: S) => R, isEqual: (a: R, b: R) => boolean, deps: readonly unknown[]): R {
  /** The last selected value, and the count of changes it was read after. */
  const cache = useRef<{ seen: number; value: R } | null>(null)
  const version = useRef(0)
  // Another doc, or a selector whose deps changed, reads afresh.
  const selectRef = useRef(select)
  const equalRef = useRef(isEqual)
  const allDeps = [source, ...deps]
  const depsRef = useRef(allDeps)
  if (!sameDeps(depsRef.current, allDeps)) {
    depsRef.current = allDeps
    cache.current = null
  }
  selectRef.current = select
  equalRef.current = isEqual

  const subscribe = useCallback(
    (onStoreChange: () => void) => {
      // A change between the render and this subscription is caught by the read React makes next.
      version.current++
      return source.subscribe(() => {
        version.current++
        onStoreChange()
      })
    },
    [source],
  )
  const getSnapshot = (): R => {
    const last = cache.current
    if (last !== null && last.seen === version.current) return last.value
    const next = selectRef.current(source.read())
    if (last !== null && equalRef.current(last.value, next)) {
      cache.current = { seen: version.current, value: last.value }
      return last.value
    }
    cache.current = { seen: version.current, value: next }
    return next
  }
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot)
}

function sameDeps(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]))
}

const yjsSources = new WeakMap<YjsHandle, Source<YDoc>>()
const automergeSources = new WeakMap<AutomergeHandle<unknown>, Source<unknown>>()

function yjsSource(handle: YjsHandle): Source<YDoc> {
  let source = yjsSources.get(handle)
  if (source === undefined) {
    source = {
      // One event per transaction that changed something: a local edit, or a run of the server's.
      subscribe: (onChange) => {
        handle.doc.on('update', onChange)
        return () => handle.doc.off('update', onChange)
      },
      read: () => handle.doc,
    }
    yjsSources.set(handle, source)
  }
  return source
}

function automergeSource<T>(handle: AutomergeHandle<T>): Source<T> {
  const key = handle as AutomergeHandle<unknown>
  let source = automergeSources.get(key)
  if (source === undefined) {
    source = { subscribe: (onChange) => handle.on('change', onChange), read: () => handle.doc() }
    automergeSources.set(key, source)
  }
  return source as Source<T>
}

/**
 * A value read from a Yjs doc by `select`, e.g. `(doc) => doc.getMap('settings').get('theme')` or
 * `(doc) => doc.getArray('todos').toJSON()`. The component re-renders when the selected value changes
 * (compared structurally by default, or by `isEqual`), not on changes elsewhere in the doc. Pass the
 * values `select` closes over as `deps`.
 */
export function useYjsValue<R>(
  handle: YjsHandle,
  select: (doc: YDoc) => R,
  deps: readonly unknown[] = [],
  isEqual: (a: R, b: R) => boolean = valueEqual,
): R {
  return useSelected(yjsSource(handle), select, isEqual, deps)
}

/**
 * A value read from an Automerge doc by `select`, e.g. `(doc) => doc.todos`. Re-renders only when the
 * selected value changes (structurally by default, or by `isEqual`). Pass what `select` closes over as `deps`.
 */
export function useAutomergeValue<T, R>(
  handle: AutomergeHandle<T>,
  select: (doc: T) => R,
  deps: readonly unknown[] = [],
  isEqual: (a: R, b: R) => boolean = valueEqual,
): R {
  return useSelected(automergeSource(handle), select, isEqual, deps)
}
