import { useCallback, useRef, useSyncExternalStore } from 'react'
import { HandleStatus, type ConnectionState, type DocHandle } from '@murmur/client'
import { useMurmurClient } from './context.js'

export const SyncStatus = {
  /** No server is reachable (or the app works offline): edits are kept on this device. */
  offline: 'offline',
  /** Connected, and merging with the server or waiting for it to acknowledge local edits. */
  syncing: 'syncing',
  /** Every local edit is stored durably on a server, and the server's state is merged. */
  saved: 'saved',
} as const
export type SyncStatus = (typeof SyncStatus)[keyof typeof SyncStatus]

export interface DocSyncState {
  readonly status: SyncStatus
  /** The handle's own status, for finer display (`connecting` counts as offline above). */
  readonly handleStatus: HandleStatus
  /** Local edits no server has acknowledged yet. */
  readonly unsaved: number
}

function syncStatusOf(handle: DocHandle): SyncStatus {
  switch (handle.status) {
    case HandleStatus.synced:
      return handle.unsavedCount === 0 ? SyncStatus.saved : SyncStatus.syncing
    case HandleStatus.syncing:
      return SyncStatus.syncing
    default:
      return SyncStatus.offline
  }
}

/** A value that changes on a handle's `status` and `unsaved` events, kept stable while equal. */
function useHandleState<R>(handle: DocHandle, read: () => R, key: (r: R) => string): R {
  const last = useRef<{ handle: DocHandle; key: string; value: R } | null>(null)
  const subscribe = useCallback(
    (onChange: () => void) => {
      const offStatus = handle.on('status', onChange)
      const offUnsaved = handle.on('unsaved', onChange)
      return () => {
        offStatus()
        offUnsaved()
      }
    },
    [handle],
  )
  const snapshot = (): R => {
    const value = read()
    const k = key(value)
    if (last.current !== null && last.current.handle === handle && last.current.key === k) return last.current.value
    last.current = { handle, key: k, value }
    return value
  }
  return useSyncExternalStore(subscribe, snapshot, snapshot)
}

/** Whether the doc's edits are on a server yet: offline, syncing, or saved; and how many are not. */
export function useSyncStatus(handle: DocHandle): DocSyncState {
  return useHandleState(
    handle,
    () => ({ status: syncStatusOf(handle), handleStatus: handle.status, unsaved: handle.unsavedCount }),
    (s) => `${s.status}/${s.handleStatus}/${s.unsaved}`,
  )
}

export interface ConnectionInfo {
  readonly state: ConnectionState
  /** The node the client is connected to, while it is. */
  readonly nodeId: string | null
  /**
   * The sync URL of that node while connected; otherwise of the node the client tries next (given
   * several `urls`, the client moves to another node when its node is unreachable).
   */
  readonly url: string
}

/** The client's connection: `unauthorized` means the server refused the token (see `MurmurProvider`'s `token`). */
export function useConnection(): ConnectionInfo {
  const client = useMurmurClient()
  const last = useRef<ConnectionInfo | null>(null)
  const subscribe = useCallback((onChange: () => void) => client.on('status', onChange), [client])
  const snapshot = (): ConnectionInfo => {
    const state = client.state
    const nodeId = state === 'open' ? client.nodeId : null
    const url = client.url
    if (last.current?.state === state && last.current.nodeId === nodeId && last.current.url === url) return last.current
    last.current = { state, nodeId, url }
    return last.current
  }
  return useSyncExternalStore(subscribe, snapshot, snapshot)
}
