import type { IncomingHttpHeaders } from 'node:http'
import type { EngineName } from '@murmur/shared'
import type { PeerCheck } from '../cluster/peer-auth.js'
import type { AccessNeed, DocRule } from './claims.js'

/** Who is on the other end of a connection or request, and what they may do. */
export interface Identity {
  /** The token's `sub`, or null (anonymous, or a token without one). */
  readonly subject: string | null
  readonly anonymous: boolean
  readonly rules: readonly DocRule[]
  /** When the token expires (ms since the epoch); null when it has no `exp`. */
  readonly expiresAt: number | null
  /** The token's `jti`, which the revocation list may name; null without one. */
  readonly tokenId: string | null
  /** The token carries `"murmur": { "admin": true }`: it may read the `/v1/admin/…` routes. */
  readonly admin: boolean
}

/** The principal changes are attributed to: the token's subject, or "anonymous". */
export function principalOf(identity: Identity | null | undefined): string {
  return identity?.subject ?? 'anonymous'
}

/** Another node of the cluster, as its link token names it. */
export interface PeerIdentity {
  readonly id: string
  readonly url: string
}

/**
 * The one place that decides who may do what on this node, asked by every endpoint: `/sync`,
 * `/yjs/<doc>`, `/automerge`, the HTTP API, and the cluster's `/peer` link. Endpoints ask; none decides.
 */
export interface Authenticator {
  /** The principal a client's token stands for (empty: anonymous, where allowed). Throws UNAUTHORIZED. */
  authenticate(token: string): Promise<Identity>
  /** Whether `identity` may do `need` on the doc (false once its token expired). */
  authorize(identity: Identity, engine: EngineName, docId: string, need: AccessNeed): boolean
  /** `authorize`, throwing FORBIDDEN (or UNAUTHORIZED once the token has expired) instead of answering false. */
  require(identity: Identity, engine: EngineName, docId: string, need: AccessNeed): void
  /**
   * Calls `onRevoked` once if `identity`'s token is revoked while a connection holds it (the revocation
   * list changed). Returns the cancel function.
   */
  watchRevocation(identity: Identity, onRevoked: () => void): () => void
  /**
   * A node opening a peer link, from the link token of its upgrade request, which must be addressed to
   * one of `audiences` (this node's id and URLs); otherwise the reason it may not link.
   */
  authenticatePeer(headers: IncomingHttpHeaders, audiences: readonly string[]): Promise<PeerCheck>
}
