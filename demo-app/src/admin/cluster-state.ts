import { authHeaders } from '../app/token.js'

/** One loaded doc as `GET /v1/admin/node` lists it. */
export interface AdminDoc {
  readonly engine: string
  readonly docId: string
  readonly connections: number
  readonly replicas: readonly string[]
  readonly hibernating: boolean
}

/** A node's own state (`GET /v1/admin/node`). */
export interface AdminNode {
  readonly id: string
  readonly ready: boolean
  readonly storageFailure: string | null
  readonly docsLoaded: number
  readonly docs: readonly AdminDoc[]
  readonly replication: { readonly hintsPending: number; readonly hintsByPeer: Record<string, number>; readonly queuedBytesByPeer: Record<string, number>; readonly pushesDropped: number } | null
  readonly webhookOutbox: { readonly pending: number | null } | null
}

/** `GET /v1/admin/cluster`: every member, with its own view when it answered. */
export interface ClusterState {
  readonly self: string
  readonly nodes: readonly { readonly id: string; readonly url: string; readonly state: string; readonly view: AdminNode | null; readonly error?: string }[]
}

/** What a poll found: the state, or why there is none (no token, not an admin, node down). */
export type Poll = { readonly ok: true; readonly state: ClusterState } | { readonly ok: false; readonly message: string }

export async function fetchClusterState(signal: AbortSignal): Promise<Poll> {
  let res: Response
  try {
    res = await fetch('/v1/admin/cluster', { signal, headers: { accept: 'application/json', ...authHeaders() } })
  } catch (err) {
    return { ok: false, message: `the node does not answer (${(err as Error).message})` }
  }
  if (res.status === 401) return { ok: false, message: 'a token is needed: open this page as /admin.html?token=<admin token>' }
  if (res.status === 403) return { ok: false, message: 'this token is not an admin token ("murmur": { "admin": true })' }
  if (!res.ok) return { ok: false, message: `the node answered ${res.status}` }
  return { ok: true, state: (await res.json()) as ClusterState }
}
