import type { IncomingHttpHeaders } from 'node:http'
import { ErrorCode, MurmurError, type EngineName } from '@murmur/shared'
import { PeerTokenVerifier, type PeerCheck } from '../cluster/peer-auth.js'
import type { Authenticator, Identity, PeerIdentity } from './authenticator.js'
import { Access, accessFor, adminFromPayload, allows, rulesFromPayload, type AccessNeed } from './claims.js'
import { Revocations } from './revocations.js'
import { AuthConfigError, TokenVerifier, type TokenKeySources } from './tokens.js'


/** The identity of a client without a token on a node that allows anonymous access: every doc, read and write. */
export const ANONYMOUS: Identity = Object.freeze({
  subject: null,
  anonymous: true,
  rules: Object.freeze([{ pattern: '*', engine: null, id: '', prefix: true, access: Access.write }]),
  expiresAt: null,
  tokenId: null,
  admin: false,
})

export interface AuthOptions extends TokenKeySources {
  /** Clients without a token get `ANONYMOUS`. Only ever on when the operator asks for it. */
  readonly anonymous: boolean
  /** The secret peer nodes sign their link tokens with; null (or absent): no node may link. */
  readonly clusterSecret?: string | null
  /** The secret before a rotation: link tokens signed with it are accepted too until it is removed. */
  readonly clusterSecretPrevious?: string | null
  /** Path of the revocation list (`Revocations`); it must exist. Null (or absent): see `revocationsDefaultFile`. */
  readonly revocationsFile?: string | null
  /** Where revocations are kept without `revocationsFile` (created when first needed); null: in memory only. */
  readonly revocationsDefaultFile?: string | null
  /** Hears why a changed revocation list could not be read (the previous one stays). */
  readonly onRevocationsError?: (err: Error) => void
}

export { AuthConfigError }
export type { Authenticator, Identity, PeerIdentity }
export { principalOf } from './authenticator.js'

/**
 * The node's `Authenticator`: client tokens are JWTs (`jose`), rights per doc come from their
 * `murmur.docs` claim, peer nodes sign short-lived link tokens with the cluster secret.
 */
export class Auth implements Authenticator {
  private readonly verifier: TokenVerifier
  /** The node's revoked tokens (the admin routes change them, the cluster spreads them). */
  readonly revocations: Revocations
  private readonly peers: PeerTokenVerifier

  constructor(private readonly options: AuthOptions) {
    this.verifier = new TokenVerifier(options)
    this.peers = new PeerTokenVerifier([options.clusterSecret ?? '', options.clusterSecretPrevious ?? ''])
    const file = options.revocationsFile ?? ''
    const fallback = options.revocationsDefaultFile ?? ''
    const where = file !== '' ? { path: file, mustExist: true } : fallback !== '' ? { path: fallback, mustExist: false } : null
    this.revocations = new Revocations(where, options.onRevocationsError ?? (() => undefined))
    if (!this.verifier.configured && !options.anonymous) {
      throw new AuthConfigError(
        'no authentication configured: give --auth-secret, --auth-public-key, --auth-jwks or --auth-jwks-url, ' +
          'or pass --anonymous to let anyone read and write every doc (development only)',
      )
    }
  }

  /** For the start-up line and logs. */
  get description(): string {
    if (!this.verifier.configured) return 'anonymous (no tokens; anyone may read and write every doc)'
    const tokens = `JWT (${this.verifier.description})`
    return this.options.anonymous ? `${tokens}; clients without a token are anonymous with full access` : tokens
  }

  get anonymousAllowed(): boolean {
    return this.options.anonymous
  }

  /**
   * The identity a token stands for. An empty token is anonymous where that is allowed; anything
   * else must verify. Throws MurmurError UNAUTHORIZED.
   */
  async authenticate(token: string): Promise<Identity> {
    if (token === '') {
      if (this.options.anonymous) return ANONYMOUS
      throw new MurmurError(ErrorCode.UNAUTHORIZED, 'a token is required')
    }
    const payload = await this.verifier.verify(token)
    const identity: Identity = {
      subject: typeof payload.sub === 'string' ? payload.sub : null,
      anonymous: false,
      rules: rulesFromPayload(payload as Record<string, unknown>),
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
      tokenId: typeof payload.jti === 'string' ? payload.jti : null,
      admin: adminFromPayload(payload as Record<string, unknown>),
    }
    if (this.revocations.isRevoked(identity)) throw new MurmurError(ErrorCode.UNAUTHORIZED, 'token revoked')
    return identity
  }

  watchRevocation(identity: Identity, onRevoked: () => void): () => void {
    if (identity.anonymous) return NOTHING_TO_CANCEL
    return this.revocations.watch(identity, onRevoked)
  }

  /** Read the revocation list again now (it is re-read on its own within a second of a change). */
  reloadRevocations(): void {
    this.revocations.reload()
  }

  /** Stop watching files. */
  close(): void {
    this.revocations.close()
  }

  /** Whether `identity` may do `need` on the doc. */
  authorize(identity: Identity, engine: EngineName, docId: string, need: AccessNeed): boolean {
    if (identity.expiresAt !== null && identity.expiresAt <= Date.now()) return false
    return allows(accessFor(identity.rules, engine, docId), need)
  }

  /** `authorize`, throwing FORBIDDEN (or UNAUTHORIZED once the token has expired) instead of answering false. */
  require(identity: Identity, engine: EngineName, docId: string, need: AccessNeed): void {
    if (identity.expiresAt !== null && identity.expiresAt <= Date.now()) throw new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired')
    if (!allows(accessFor(identity.rules, engine, docId), need)) {
      throw new MurmurError(ErrorCode.FORBIDDEN, `no ${need} access to ${engine}:${docId.slice(0, 80)}`)
    }
  }

  async authenticatePeer(headers: IncomingHttpHeaders, audiences: readonly string[]): Promise<PeerCheck> {
    if (!this.peers.configured) return { ok: false, reason: 'no token', issuer: null }
    return this.peers.verify(headers, audiences)
  }

  /** Link token ids remembered against replays now (each is dropped once its token expired). */
  get peerTokensRemembered(): number {
    return this.peers.remembered
  }
}

/**
 * The token of an HTTP request or WebSocket upgrade: `Authorization: Bearer <token>`, else the `token`
 * query parameter (what browsers' WebSocket and y-websocket's `params` option can send). Empty if none.
 */
export function tokenFromRequest(headers: IncomingHttpHeaders, url: URL): string {
  const header = headers.authorization
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/iu.exec(header)
    if (m !== null) return m[1]
  }
  return url.searchParams.get('token') ?? ''
}

/** setTimeout's delay is a signed 32-bit number of milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The cancel function of a token that never expires: one for all of them, not one per connection. */
const NOTHING_TO_CANCEL = (): void => undefined

/**
 * Calls `onExpired` when `identity`'s token expires, for sockets that outlive their token. Returns the
 * cancel function.
 */
export function watchExpiry(identity: Identity, onExpired: () => void): () => void {
  if (identity.expiresAt === null) return NOTHING_TO_CANCEL
  const expiresAt = identity.expiresAt
  let timer: NodeJS.Timeout | null = null
  const arm = (): void => {
    const left = expiresAt - Date.now()
    if (left <= 0) {
      timer = null
      onExpired()
      return
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS))
    timer.unref()
  }
  arm()
  return () => {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }
}

/** Why a live connection's token stopped being good. */
export type TokenEnd = 'token expired' | 'token revoked'

/**
 * The identity of one live connection. It closes the connection (through `onEnded`) when its token
 * expires or is revoked, and can take a fresh token without a reconnect.
 */
export class ConnectionAuth {
  private cancelExpiry: () => void
  private cancelRevocation: () => void

  constructor(
    private readonly auth: Authenticator,
    private current: Identity,
    private readonly onEnded: (why: TokenEnd) => void,
  ) {
    this.cancelExpiry = watchExpiry(current, () => onEnded('token expired'))
    this.cancelRevocation = auth.watchRevocation(current, () => onEnded('token revoked'))
  }

  get identity(): Identity {
    return this.current
  }

  can(engine: EngineName, docId: string, need: AccessNeed): boolean {
    return this.auth.authorize(this.current, engine, docId, need)
  }

  require(engine: EngineName, docId: string, need: AccessNeed): void {
    this.auth.require(this.current, engine, docId, need)
  }

  /** Verify `token` and make it this connection's identity. Throws UNAUTHORIZED, keeping the old one. */
  async refresh(token: string): Promise<Identity> {
    const next = await this.auth.authenticate(token)
    this.dispose()
    this.current = next
    this.cancelExpiry = watchExpiry(next, () => this.onEnded('token expired'))
    this.cancelRevocation = this.auth.watchRevocation(next, () => this.onEnded('token revoked'))
    return next
  }

  dispose(): void {
    this.cancelExpiry()
    this.cancelRevocation()
  }
}
