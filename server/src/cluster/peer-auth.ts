import { createHmac, timingSafeEqual } from 'node:crypto'

/** How far a link request's timestamp may be from our clock. */
const MAX_SKEW_MS = 5 * 60_000

export interface PeerCredentials {
  readonly id: string
  readonly url: string
  readonly ts: string
  readonly sig: string
}

function sign(secret: string, id: string, url: string, ts: string): string {
  return createHmac('sha256', secret).update(`murmur-peer\n${id}\n${url}\n${ts}`).digest('hex')
}

/** Headers a node sends when it opens a link to another node's /peer. */
export function peerHeaders(secret: string, id: string, url: string, now = Date.now()): Record<string, string> {
  const ts = String(now)
  return { 'x-murmur-node-id': id, 'x-murmur-node-url': url, 'x-murmur-ts': ts, 'x-murmur-sig': sign(secret, id, url, ts) }
}

/** Check a link request's headers; returns the caller's id and url, or null when it may not connect. */
export function verifyPeer(secret: string, headers: Record<string, string | string[] | undefined>, now = Date.now()): { id: string; url: string } | null {
  const get = (h: string): string | null => {
    const v = headers[h]
    return typeof v === 'string' ? v : null
  }
  const id = get('x-murmur-node-id')
  const url = get('x-murmur-node-url')
  const ts = get('x-murmur-ts')
  const sig = get('x-murmur-sig')
  if (id === null || url === null || ts === null || sig === null) return null
  if (!/^\d{1,16}$/u.test(ts) || Math.abs(now - Number(ts)) > MAX_SKEW_MS) return null
  const expected = Buffer.from(sign(secret, id, url, ts), 'hex')
  const given = Buffer.from(sig, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
  return { id, url }
}
