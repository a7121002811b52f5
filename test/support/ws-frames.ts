import { randomBytes } from 'node:crypto'
import { frameHeader } from '../../server/dist/ws/websocket.js'

/**
 * A WebSocket frame as a client sends it (masked, as RFC 6455 requires of clients), or bent the ways a
 * conforming client never would: unmasked, reserved bits set, not final, or announcing another length.
 */
export function clientFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, mask = true, rsv = 0, length }: { fin?: boolean; mask?: boolean; rsv?: number; length?: number } = {},
): Buffer {
  const header = frameHeader(opcode, length ?? payload.length)
  header[0] = (fin ? 0x80 : 0) | rsv | opcode
  if (!mask) return Buffer.concat([header, payload])
  header[1] |= 0x80
  const key = randomBytes(4)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3]
  return Buffer.concat([header, key, body])
}
