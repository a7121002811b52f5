import { ErrorCode, MurmurError } from '@murmur/shared'
import type { SyncContext } from './context.js'
import type { ServerSocket } from '../ws/socket.js'

/** The flag of this limit, as metrics and errors name it. */
export const HANDSHAKE_LIMIT = 'handshake-timeout-ms'

function expire(socket: ServerSocket, ctx: SyncContext): void {
  if (!socket.isOpen) return
  ctx.metrics?.limitHit?.(HANDSHAKE_LIMIT)
  socket.closeWith(new MurmurError(ErrorCode.HANDSHAKE_TIMEOUT, `no handshake within ${ctx.config.handshakeTimeoutMs} ms (--${HANDSHAKE_LIMIT})`))
}

/**
 * Close `socket` with 4407 unless its protocol's handshake (hello, join) is done within
 * `--handshake-timeout-ms`: a socket that never says who it is must not hold memory for long. Returns
 * the timer to clear once it is done (null: no limit).
 */
export function handshakeDeadline(socket: ServerSocket, ctx: SyncContext): NodeJS.Timeout | null {
  const ms = ctx.config.handshakeTimeoutMs
  if (ms <= 0) return null
  const timer = setTimeout(expire, ms, socket, ctx)
  timer.unref()
  return timer
}
