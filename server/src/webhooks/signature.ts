import { createHmac, timingSafeEqual } from 'node:crypto'

/** Headers of every webhook request. */
export const WebhookHeader = {
  /** The message's unique id: the same on every retry of it, so receivers can drop duplicates. */
  idempotencyKey: 'idempotency-key',
  /** Unix time (seconds) at which this attempt was signed. */
  timestamp: 'x-murmur-timestamp',
  /** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the webhook secret>`. */
  signature: 'x-murmur-signature',
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: 'x-murmur-attempt',
} as const

/** The signature header value for `body` sent at `timestamp` (seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

/**
 * What a receiver does: recompute the signature and compare in constant time; refuse timestamps
 * further than `toleranceSeconds` from now, so a captured request cannot be replayed later.
 */
export function verifyWebhook(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const ts = Number(headers.timestamp)
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds || headers.signature === undefined) return false
  const expected = Buffer.from(signWebhook(secret, ts, body))
  const given = Buffer.from(headers.signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}
