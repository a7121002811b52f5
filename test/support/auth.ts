import { SignJWT } from 'jose'

/** The HS256 secret of nodes started with `authServer` (at least 32 bytes, as the node requires). */
export const AUTH_SECRET = 'test-secret-of-at-least-thirty-two-bytes!'

export type Rights = Record<string, 'read' | 'write' | 'none'>

export interface TokenOptions {
  /** Seconds from now until `exp`; negative for an expired token. Default one hour. */
  readonly expiresIn?: number
  /** Sign with this secret instead of `AUTH_SECRET` (a forged token). */
  readonly secret?: string
  readonly subject?: string
}

/** An HS256 token carrying `{ murmur: { docs: rights } }`. */
export async function token(rights: Rights, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ murmur: { docs: rights } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.subject ?? 'tester')
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (options.expiresIn ?? 3600))
    .sign(new TextEncoder().encode(options.secret ?? AUTH_SECRET))
}
