import { useCallback, useRef, useSyncExternalStore } from 'react'
import type { YjsHandle } from '@murmur/client'
import { valueEqual } from './equal.js'

type Awareness = YjsHandle['awareness']

export interface Peer<S> {
  /** The peer's awareness client id (one per open handle, so one person may show in several tabs). */
  readonly clientId: number
  readonly state: S
}

export interface Presence<S> {
  /** Everyone else with this doc open who announced a state, by client id. */
  readonly others: readonly Peer<S>[]
  /** Our own announced state, or null. */
  readonly self: S | null
  /** Announce a new state for ourselves (null: none). */
  setSelf(state: S | null): void
}

function othersOf<S>(awareness: Awareness): Peer<S>[] {
  const peers: Peer<S>[] = []
  for (const [clientId, state] of awareness.getStates()) {
    if (clientId !== awareness.clientID && Object.keys(state).length > 0) peers.push({ clientId, state: state as S })
  }
  return peers.sort((a, b) => a.clientId - b.clientId)
}

const setters = new WeakMap<Awareness, (state: Record<string, unknown> | null) => void>()

/** One setter per awareness, so it can sit in an effect's deps without re-running it. */
function setterFor(awareness: Awareness): (state: Record<string, unknown> | null) => void {
  let set = setters.get(awareness)
  if (set === undefined) {
    set = (state) => awareness.setLocalState(state)
    setters.set(awareness, set)
  }
  return set
}

/**
 * The presence of everyone on the doc (y-protocols awareness, for either engine). Re-renders when
 * someone's state changes, arrives or leaves; not on the periodic renewals of unchanged states.
 */
export function usePresence<S extends Record<string, unknown>>(handle: { readonly awareness: Awareness }): Presence<S> {
  const awareness = handle.awareness
  const last = useRef<{ awareness: Awareness; value: Presence<S> } | null>(null)
  const subscribe = useCallback(
    (onChange: () => void) => {
      awareness.on('change', onChange)
      return () => awareness.off('change', onChange)
    },
    [awareness],
  )
  const snapshot = (): Presence<S> => {
    const others = othersOf<S>(awareness)
    const self = (awareness.getLocalState() as S | null) ?? null
    const prev = last.current
    if (prev !== null && prev.awareness === awareness && valueEqual(prev.value.others, others) && valueEqual(prev.value.self, self)) return prev.value
    const value: Presence<S> = { others, self, setSelf: setterFor(awareness) }
    last.current = { awareness, value }
    return value
  }
  return useSyncExternalStore(subscribe, snapshot, snapshot)
}
