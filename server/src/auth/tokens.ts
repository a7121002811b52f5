import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ErrorCode, MurmurError } from '@murmur/shared'

/** Where a node's token keys come from; at least one must be set for token auth. */
export interface TokenKeySources {
  /** HS256 shared secret. */
  readonly secret: string | null
  /** Path of a PEM public key (SPKI): RSA for RS256, P-256 EC for ES256. */
  readonly publicKeyFile: string | null
  /** Path of a JWKS JSON file (`{ "keys": [...] }`) with RS256/ES256 public keys, chosen by `kid`. */
  readonly jwksFile: string | null
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
  private readonly algorithms: string[]
  /** For the start-up line: "HS256", "RS256 public key", "JWKS (3 keys)"... */
  readonly description: string
  /**
   * Tokens that verified, by their exact text. Clients present the same token on every reconnect, so a
   * reconnect storm costs one signature check per token rather than one per connection.
   */
  private readonly verified = new Map<string, JWTPayload>()

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
    this.algorithms = [
      ...(this.secret !== null ? ['HS256'] : []),
      ...(this.publicKey !== null ? [this.publicKey.alg] : []),
      ...(this.jwks !== null ? ['RS256', 'ES256'] : []),
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
      if (typeof cached.exp !== 'number' || cached.exp * 1000 > Date.now()) return cached
      this.verified.delete(token)
      throw new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired')
    }
    const payload = await this.verifyUncached(token)
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string)
    this.verified.set(token, payload)
    return payload
  }

  private async verifyUncached(token: string): Promise<JWTPayload> {
    const resolve: JWTVerifyGetKey = async (header, input) => {
      // Each key serves only its own algorithm: a public key is never taken as an HMAC secret.
      if (header.alg === 'HS256') {
        if (this.secret !== null) return this.secret
      } else {
        const pem = this.publicKey !== null && header.alg === this.publicKey.alg ? this.publicKey.key : null
        if (this.jwks !== null && (header.kid !== undefined || pem === null)) return this.jwks(header, input)
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
