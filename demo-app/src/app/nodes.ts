import { authHeaders } from './token.js'

/**
 * The nodes the app may connect to: the cluster's members as the serving node lists them at
 * `GET /v1/cluster`, or just the node that served the page when it is not part of a cluster.
 */
export interface ClusterNode {
  /** The node's id, as its welcome reports it. */
  readonly id: string
  /** http(s)://host:port of the node. */
  readonly url: string
  /** Membership state when known (alive, suspect, dead, left). */
  readonly state: string | null
}

const CHOSEN_KEY = 'murmur-demo:node'

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null
}

function field(o: object, ...names: string[]): string | null {
  for (const n of names) {
    const v = str((o as Record<string, unknown>)[n])
    if (v !== null) return v
  }
  return null
}

/** Read the membership list (`{ members: [{ id, httpUrl | url, state }] }`), leniently. */
export function parseMembers(body: unknown): ClusterNode[] {
  let list: unknown = body
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const o = body as Record<string, unknown>
    list = o.members ?? o.nodes
  }
  if (!Array.isArray(list)) return []
  const out: ClusterNode[] = []
  for (const m of list) {
    if (typeof m !== 'object' || m === null) continue
    const rawUrl = field(m, 'httpUrl', 'url', 'publicUrl', 'address')
    if (rawUrl === null) continue
    let url: string
    try {
      const u = new URL(rawUrl)
      if (u.protocol === 'ws:') u.protocol = 'http:'
      else if (u.protocol === 'wss:') u.protocol = 'https:'
      url = u.origin
    } catch {
      continue
    }
    const state = field(m, 'state', 'status')
    // A peer that is not linked right now is worth marking even while membership still says alive.
    const linked = (m as { connected?: unknown }).connected
    out.push({ id: field(m, 'id', 'nodeId', 'name') ?? url, url, state: state === 'alive' && linked === false ? 'unreachable' : state })
  }
  return out
}

/** This page's own node, when nothing better is known. */
export function thisNode(): ClusterNode {
  return { id: location.host, url: location.origin, state: null }
}

/**
 * The cluster as the serving node sees it; the serving node alone if it has no cluster API; null when it
 * could not be asked (offline), so the caller keeps what it knew.
 */
export async function fetchNodes(signal?: AbortSignal): Promise<ClusterNode[] | null> {
  let res: Response
  try {
    res = await fetch('/v1/cluster', { signal, headers: { accept: 'application/json', ...authHeaders() } })
  } catch {
    return null
  }
  if (!res.ok) return [thisNode()]
  try {
    const nodes = parseMembers(await res.json())
    return nodes.length > 0 ? nodes : [thisNode()]
  } catch {
    return [thisNode()]
  }
}

/** The http(s) origin of a node URL (the SDK reports ws(s)://host:port/sync). */
export function nodeOrigin(url: string): string {
  try {
    const u = new URL(url)
    if (u.protocol === 'ws:') u.protocol = 'http:'
    else if (u.protocol === 'wss:') u.protocol = 'https:'
    return u.origin
  } catch {
    return url
  }
}

/** The nodes a client may move to when its node is unreachable: every member that has not left. */
export function failoverUrls(nodes: readonly ClusterNode[]): string[] {
  return nodes.filter((n) => n.state !== 'left').map((n) => n.url)
}

/** The node this tab chose (kept per tab, so two tabs may sit on two nodes). */
export function chosenNodeUrl(): string {
  return sessionStorage.getItem(CHOSEN_KEY) ?? location.origin
}

export function chooseNodeUrl(url: string): void {
  if (url === location.origin) sessionStorage.removeItem(CHOSEN_KEY)
  else sessionStorage.setItem(CHOSEN_KEY, url)
}
