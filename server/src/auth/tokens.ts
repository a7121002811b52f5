import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ErrorCode, MurmurError } from '@murmur/shared'

/** Where a node's token keys come from; at least one must be set for token auth. */
export interface TokenKeySources {
  /** HS256 shared secret. */
  readonly secret: string | null
  /** Path of a PEM public key (SPKI): RSA for RS256, P-256 EC for ES256. */
  readonly publicKeyFile: string | null
  /** Path of a JWKS JSON file (`{ "keys": [...] }`) with RS256/ES256 public keys, chosen by `kid`. */
  readonly jwksFile: string | null
  /** URL of a JWKS (RS256/ES256) fetched and cached; fetched again when a token names an unknown `kid`. */
  readonly jwksUrl?: string | null
  /** Least time between two fetches of `jwksUrl` (jose's cooldown; default 30 s). */
  readonly jwksCooldownMs?: number
  /** When set, the `iss` claim must equal it. */
  readonly issuer: string | null
  /** When set, the `aud` claim must contain it. */
  readonly audience: string | null
}

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash. */
export const MIN_SECRET_BYTES = 32

/** Verified tokens remembered at most (the oldest is forgotten first). */
const VERIFIED_CACHE_SIZE = 10_000

export class AuthConfigError extends Error {
  override name = 'AuthConfigError'
}

/** Verifies JWTs against the configured keys. Construction reads and checks the key files once. */
export class TokenVerifier {
  /** A key object made once: jose would otherwise import raw secret bytes on every verification. */
  private readonly secret: KeyObject | null
  private readonly publicKey: { key: KeyObject; alg: 'RS256' | 'ES256' } | null
  private readonly jwks: JWTVerifyGetKey | null
  private readonly remote: RemoteKeys | null
  private readonly algorithms: string[]
  /** For the start-up line: "HS256", "RS256 public key", "JWKS (3 keys)"... */
  readonly description: string
  /**
   * Tokens that verified, by their exact text. Clients present the same token on every reconnect, so a
   * reconnect storm costs one signature check per token rather than one per connection.
   */
  private readonly verified = new Map<string, Verified>()

  constructor(private readonly sources: TokenKeySources) {
    const parts: string[] = []
    this.secret = null
    if (sources.secret !== null && sources.secret !== '') {
      const bytes = new TextEncoder().encode(sources.secret)
      if (bytes.length < MIN_SECRET_BYTES) throw new AuthConfigError(`--auth-secret must be at least ${MIN_SECRET_BYTES} bytes`)
      this.secret = createSecretKey(bytes)
      parts.push('HS256 shared secret')
    }
    this.publicKey = sources.publicKeyFile !== null && sources.publicKeyFile !== '' ? readPublicKey(sources.publicKeyFile) : null
    if (this.publicKey !== null) parts.push(`${this.publicKey.alg} public key`)
    this.jwks = null
    if (sources.jwksFile !== null && sources.jwksFile !== '') {
      const set = readJwks(sources.jwksFile)
      this.jwks = createLocalJWKSet(set)
      parts.push(`JWKS (${set.keys.length} key${set.keys.length === 1 ? '' : 's'})`)
    }
    this.remote = null
    if (sources.jwksUrl !== undefined && sources.jwksUrl !== null && sources.jwksUrl !== '') {
      this.remote = remoteKeys(sources.jwksUrl, sources.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS)
      parts.push(`JWKS at ${sources.jwksUrl}`)
    }
    this.algorithms = [
      ...(this.secret !== null ? ['HS256'] : []),
      ...(this.publicKey !== null ? [this.publicKey.alg] : []),
      ...(this.jwks !== null || this.remote !== null ? ['RS256', 'ES256'] : []),
    ].filter((a, i, all) => all.indexOf(a) === i)
    this.description = parts.join(' + ')
  }

  /** True when at least one key source is configured. */
  get configured(): boolean {
    return this.algorithms.length > 0
  }

  /**
   * The verified payload. Throws MurmurError UNAUTHORIZED for a bad signature, an algorithm not
   * configured, an expired or not-yet-valid token, or a wrong issuer or audience.
   */
  async verify(token: string): Promise<JWTPayload> {
    if (!this.configured) throw new MurmurError(ErrorCode.UNAUTHORIZED, 'this node accepts no tokens')
    const cached = this.verified.get(token)
    if (cached !== undefined) {
      const { payload, remoteKid } = cached
      if (typeof payload.exp === 'number' && payload.exp * 1000 <= Date.now()) {
        this.verified.delete(token)
        throw new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired')
      }
      // A key removed from the remote JWKS takes its tokens with it: verify again (and fail).
      if (remoteKid === undefined || this.remote?.has(remoteKid) === true) return payload
      this.verified.delete(token)
    }
    let remoteKid: string | undefined
    const payload = await this.verifyUncached(token, (kid) => (remoteKid = kid))
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string)
    this.verified.set(token, { payload, remoteKid })
    return payload
  }

  private async verifyUncached(token: string, usedRemote: (kid: string) => void): Promise<JWTPayload> {
    const resolve: JWTVerifyGetKey = async (header, input) => {
      // Each key serves only its own algorithm: a public key is never taken as an HMAC secret.
      if (header.alg === 'HS256') {
        if (this.secret !== null) return this.secret
      } else {
        const pem = this.publicKey !== null && header.alg === this.publicKey.alg ? this.publicKey.key : null
        if (this.jwks !== null && (header.kid !== undefined || pem === null)) return this.jwks(header, input)
        if (this.remote !== null && (header.kid !== undefined || pem === null)) {
          usedRemote(header.kid ?? '')
          return this.remote.getKey(header, input)
        }
        if (pem !== null) return pem
      }
      throw new MurmurError(ErrorCode.UNAUTHORIZED, `no key for algorithm ${String(header.alg).slice(0, 16)}`)
    }
    try {
      const { payload } = await jwtVerify(token, resolve, {
        algorithms: this.algorithms,
        issuer: this.sources.issuer ?? undefined,
        audience: this.sources.audience ?? undefined,
      })
      return payload
    } catch (err) {
      if (err instanceof MurmurError) throw err
      if (err instanceof errors.JWTExpired) throw new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired')
      if (err instanceof errors.JWTClaimValidationFailed) throw new MurmurError(ErrorCode.UNAUTHORIZED, `token rejected: ${err.claim} check failed`)
      throw new MurmurError(ErrorCode.UNAUTHORIZED, 'invalid token')
    }
  }
}

/** jose's default: a JWKS URL is fetched at most twice a minute, however many unknown `kid`s arrive. */
const DEFAULT_JWKS_COOLDOWN_MS = 30_000

/** What a verified token is remembered with: its payload, and the `kid` when a remote JWKS key signed it. */
interface Verified {
  readonly payload: JWTPayload
  readonly remoteKid: string | undefined
}

/** A remote JWKS (jose's `createRemoteJWKSet`: cached, fetched again on an unknown `kid`). */
interface RemoteKeys {
  getKey: JWTVerifyGetKey
  /** The last fetched set still holds the key with this `kid` ('' for a token without one). */
  has(kid: string): boolean
}

function remoteKeys(url: string, cooldownMs: number): RemoteKeys {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new AuthConfigError(`--auth-jwks-url: "${url}" is not a URL`)
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new AuthConfigError('--auth-jwks-url must be an https:// (or http://) URL')
  const set = createRemoteJWKSet(parsed, { cooldownDuration: cooldownMs })
  return {
    getKey: set,
    has: (kid) => set.jwks()?.keys.some((k) => (k.kid ?? '') === kid) ?? false,
  }
}

function readPublicKey(file: string): { key: KeyObject; alg: 'RS256' | 'ES256' } {
  let key: KeyObject
  try {
    key = createPublicKey(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new AuthConfigError(`--auth-public-key: cannot read a PEM public key from ${file}: ${(err as Error).message}`)
  }
  if (key.asymmetricKeyType === 'rsa') return { key, alg: 'RS256' }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, alg: 'ES256' }
  throw new AuthConfigError(`--auth-public-key: ${file} must hold an RSA key (RS256) or a P-256 EC key (ES256)`)
}

function readJwks(file: string): JSONWebKeySet {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new AuthConfigError(`--auth-jwks: cannot read JSON from ${file}: ${(err as Error).message}`)
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0) throw new AuthConfigError(`--auth-jwks: ${file} must be a JWKS: { "keys": [ ... ] }`)
  for (const k of keys as { kty?: unknown; d?: unknown }[]) {
    if (k.kty !== 'RSA' && k.kty !== 'EC') throw new AuthConfigError(`--auth-jwks: only RSA and EC keys are accepted, found kty ${String(k.kty)}`)
    // A private key in a file of public keys is a mistake worth stopping for.
    if (k.d !== undefined) throw new AuthConfigError(`--auth-jwks: ${file} holds a private key; give the public keys only`)
  }
  return { keys } as JSONWebKeySet
}
