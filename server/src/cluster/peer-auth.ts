import { createHash, createSecretKey, randomUUID, type KeyObject } from 'node:crypto'
import { hostname } from 'node:os'
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose'

/** Header of a `/peer` upgrade request that carries the link token. */
export const PEER_TOKEN_HEADER = 'x-murmur-peer-token'

/** How long a link token is good for: long enough to cross a slow network, too short to be worth stealing. */
export const PEER_TOKEN_TTL_S = 60

/** How far apart two nodes' clocks may be (tokens are checked with this much slack both ways). */
export const PEER_CLOCK_TOLERANCE_S = 30

const ALG = 'HS256'

/**
 * The key a cluster secret stands for on peer links: SHA-256 of a label and the secret, so that any
 * secret gives an HS256 key of full length and the same secret used elsewhere yields another key.
 */
function peerKey(secret: string): KeyObject {
  return createSecretKey(createHash('sha256').update('murmur-peer-link\u0000').update(secret).digest())
}

/** A node's name on the wire for audiences: its URL without a trailing slash or `/peer`. */
export function normalizePeerUrl(url: string): string {
  try {
    const u = new URL(url)
    const path = u.pathname.replace(/\/peer\/?$/u, '').replace(/\/+$/u, '')
    return `${u.protocol}//${u.host}${path}`
  } catch {
    return url.replace(/\/+$/u, '')
  }
}

export interface PeerSender {
  /** The sending node's id (`iss`). */
  readonly id: string
  /** The URL it is reached at (the `url` claim; its hello must match it). */
  readonly url: string
}

/**
 * A link token for a `/peer` upgrade: HS256 over the cluster secret, issued by `from`, for the node at
 * `audience` (the URL being dialled), good for `PEER_TOKEN_TTL_S`, with a unique `jti` the receiver
 * remembers so that a captured handshake cannot be played again.
 */
export async function signPeerToken(secret: string, from: PeerSender, audience: string, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000)
  return new SignJWT({ url: from.url })
    .setProtectedHeader({ alg: ALG, typ: 'murmur-peer+jwt' })
    .setIssuer(from.id)
    .setAudience(normalizePeerUrl(audience))
    .setIssuedAt(iat)
    .setExpirationTime(iat + PEER_TOKEN_TTL_S)
    .setJti(randomUUID())
    .sign(peerKey(secret))
}

/** The headers of a `/peer` upgrade request to the node at `audience`. */
export async function peerHeaders(secret: string, from: PeerSender, audience: string, now = Date.now()): Promise<Record<string, string>> {
  return { [PEER_TOKEN_HEADER]: await signPeerToken(secret, from, audience, now) }
}

/** Why a link request was refused, for the 401's log line. */
export type PeerRefusal = 'no token' | 'malformed token' | 'bad signature' | 'expired token' | 'token not yet valid' | 'wrong audience' | 'replayed token' | 'incomplete claims'

export type PeerCheck =
  | { readonly ok: true; readonly id: string; readonly url: string }
  /** `audience`: whom the token was for, when its signature verified (a seed naming this node otherwise). */
  | { readonly ok: false; readonly reason: PeerRefusal; readonly issuer: string | null; readonly audience?: string }

/** Token ids seen, kept until their token expires. */
class SeenTokens {
  private readonly until = new Map<string, number>()
  private nextSweep = 0

  /** Remember `jti` until `expiresAt` (ms); false when it was already seen. */
  add(jti: string, expiresAt: number, now: number): boolean {
    if (now >= this.nextSweep) this.sweep(now)
    const known = this.until.get(jti)
    if (known !== undefined && known > now) return false
    this.until.set(jti, expiresAt)
    return true
  }

  get size(): number {
    return this.until.size
  }

  /** Forget the ids whose tokens can no longer verify: memory holds at most one token lifetime of handshakes. */
  sweep(now: number): void {
    for (const [jti, t] of this.until) if (t <= now) this.until.delete(jti)
    this.nextSweep = now + 1000
  }
}

/**
 * Checks the link tokens of `/peer` upgrades. Accepts tokens signed with any of `secrets` (the current one
 * first, then the previous one during a rotation), addressed to one of this node's names, not expired,
 * and not seen before.
 */
export class PeerTokenVerifier {
  private readonly keys: KeyObject[]
  private readonly seen = new SeenTokens()

  constructor(secrets: readonly string[]) {
    this.keys = secrets.filter((s) => s !== '').map(peerKey)
  }

  get configured(): boolean {
    return this.keys.length > 0
  }

  /** Token ids remembered now (they are dropped once their token expired). */
  get remembered(): number {
    return this.seen.size
  }

  /**
   * Check an upgrade request's headers. `audiences` are the names this node answers to (its id and URLs,
   * normalised with `normalizePeerUrl`).
   */
  async verify(headers: Record<string, string | string[] | undefined>, audiences: readonly string[], now = Date.now()): Promise<PeerCheck> {
    const token = headers[PEER_TOKEN_HEADER]
    if (typeof token !== 'string' || token === '') return { ok: false, reason: 'no token', issuer: null }
    let issuer: string | null = null
    try {
      if (decodeProtectedHeader(token).alg !== ALG) return { ok: false, reason: 'malformed token', issuer }
    } catch {
      return { ok: false, reason: 'malformed token', issuer }
    }
    let lastReason: PeerRefusal = 'bad signature'
    for (const key of this.keys) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [ALG],
          audience: [...audiences],
          clockTolerance: PEER_CLOCK_TOLERANCE_S,
          currentDate: new Date(now),
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
        })
        issuer = typeof payload.iss === 'string' ? payload.iss : null
        const url = (payload as { url?: unknown }).url
        if (issuer === null || typeof url !== 'string' || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') {
          return { ok: false, reason: 'incomplete claims', issuer }
        }
        // A token that would stay good for longer than one lifetime was made by a clock far ahead of ours.
        if (payload.exp * 1000 - now > (PEER_TOKEN_TTL_S + PEER_CLOCK_TOLERANCE_S) * 1000) return { ok: false, reason: 'token not yet valid', issuer }
        if (!this.seen.add(payload.jti, (payload.exp + PEER_CLOCK_TOLERANCE_S) * 1000, now)) return { ok: false, reason: 'replayed token', issuer }
        return { ok: true, id: issuer, url }
      } catch (err) {
        lastReason = refusalOf(err)
        // Only a signature that does not verify may verify with the other secret.
        if (lastReason !== 'bad signature') return { ok: false, reason: lastReason, ...claimsOf(token) }
      }
    }
    return { ok: false, reason: lastReason, issuer: null }
  }
}

function refusalOf(err: unknown): PeerRefusal {
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature'
  if (err instanceof errors.JWTExpired) return 'expired token'
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'wrong audience'
    if (err.claim === 'nbf' || err.claim === 'iat') return 'token not yet valid'
    return 'incomplete claims'
  }
  return 'malformed token'
}

/** The `iss` and `aud` of a token whose signature verified but whose claims did not (for the log line). */
function claimsOf(token: string): { issuer: string | null; audience?: string } {
  try {
    const body = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown; aud?: unknown }
    const issuer = typeof body.iss === 'string' ? body.iss.slice(0, 128) : null
    return typeof body.aud === 'string' ? { issuer, audience: body.aud.slice(0, 256) } : { issuer }
  } catch {
    return { issuer: null }
  }
}

/**
 * The names a node answers to as a token's audience: its id, its advertised URL, and the URLs of where it
 * listens (every address of the machine when it listens on all of them), so that seeds may name it by
 * any address it is reached at.
 */
export function nodeAudiences(node: { id: string; url: string }, listen: { scheme: 'ws' | 'wss'; host: string; port: number }, addresses: readonly string[]): string[] {
  const hosts = listen.host === '0.0.0.0' || listen.host === '::' ? ['localhost', hostname(), ...addresses] : [listen.host]
  const names = new Set([node.id, normalizePeerUrl(node.url)])
  for (const h of hosts) names.add(normalizePeerUrl(`${listen.scheme}://${h.includes(':') ? `[${h}]` : h}:${listen.port}`))
  return [...names]
}
