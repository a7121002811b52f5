import { ErrorCode, MurmurError } from '../errors.js'

/** The presence limits of a node, with the flag that sets each (metrics and errors name the flag). */
export interface PresenceLimits {
  /** Awareness states one socket may hold on one doc (`--max-awareness-ids-per-socket`). */
  readonly maxIdsPerSocket: number
  /** Bytes (JSON text) of those states together (`--max-awareness-bytes-per-socket`). */
  readonly maxBytesPerSocket: number
  /** States one doc holds; further ids are dropped, not fatal (`--max-awareness-ids-per-doc`). */
  readonly maxIdsPerDoc: number
}

export const PresenceLimit = {
  idsPerSocket: 'max-awareness-ids-per-socket',
  bytesPerSocket: 'max-awareness-bytes-per-socket',
  idsPerDoc: 'max-awareness-ids-per-doc',
} as const
export type PresenceLimit = (typeof PresenceLimit)[keyof typeof PresenceLimit]

/** What the sockets of a node share: the limits, and where a breach is counted. */
export interface PresencePolicy {
  readonly limits: PresenceLimits
  /** A limit was reached (a metric). */
  limitHit(limit: PresenceLimit): void
}

/** No limits: for tools and tests that relay presence without a node around them. */
export const UNLIMITED_PRESENCE: PresencePolicy = {
  limits: { maxIdsPerSocket: Infinity, maxBytesPerSocket: Infinity, maxIdsPerDoc: Infinity },
  limitHit: () => undefined,
}

/**
 * The presence one socket holds on one doc: a count of ids and of their bytes, charged when the socket
 * introduces or grows a state and given back when the state is removed. Per doc, so that a client with
 * many docs open on one socket (each with its own presence) is not refused. Past a limit the socket
 * is refused with MUR_ERR_AWARENESS_LIMIT (close 4431), so one client cannot make every joiner of a doc
 * download megabytes of presence.
 */
export class PresenceQuota {
  ids = 0
  bytes = 0

  constructor(readonly policy: PresencePolicy) {}

  /** Charge `ids` more states and `bytes` more bytes (negative gives back), or throw when past a limit. */
  charge(ids: number, bytes: number): void {
    const limits = this.policy.limits
    if (ids > 0 && this.ids + ids > limits.maxIdsPerSocket) {
      this.policy.limitHit(PresenceLimit.idsPerSocket)
      throw new MurmurError(ErrorCode.AWARENESS_LIMIT, `at most ${limits.maxIdsPerSocket} presence states per socket (--${PresenceLimit.idsPerSocket})`)
    }
    if (bytes > 0 && this.bytes + bytes > limits.maxBytesPerSocket) {
      this.policy.limitHit(PresenceLimit.bytesPerSocket)
      throw new MurmurError(ErrorCode.AWARENESS_LIMIT, `at most ${limits.maxBytesPerSocket} bytes of presence per socket (--${PresenceLimit.bytesPerSocket})`)
    }
    this.ids += ids
    this.bytes += bytes
  }

  release(ids: number, bytes: number): void {
    this.ids -= ids
    this.bytes -= bytes
  }
}
