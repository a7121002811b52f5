import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { endianness } from 'node:os'
import type { Duplex } from 'node:stream'

/**
 * The server side of RFC 6455 on a plain TCP socket: the opening handshake, and frames read and written
 * without a stream object of their own. A socket with no frame half-read holds no reader state at all,
 * so that ten thousand idle connections cost the TCP socket and our own connection object, not a second
 * stream stack per socket. No extensions are negotiated (permessage-deflate is declined by not answering
 * it), which RFC 6455 allows and every client accepts.
 */

export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const

/** Close codes of RFC 6455 §7.4.1 that the reader itself sends. */
export const WsClose = { normal: 1000, protocolError: 1002, invalidData: 1007, policy: 1008, tooBig: 1009, noStatus: 1005 } as const

/**
 * Fragments one message may come in. Each kept fragment costs an object, so without a bound a message of
 * one-byte fragments would hold a hundred times its size; clients fragment only large messages, if at all.
 */
export const MAX_FRAGMENTS = 1024

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
/** A Sec-WebSocket-Key is 16 random bytes in base64. */
const KEY = /^[+/0-9A-Za-z]{22}==$/u
/** A subprotocol is an HTTP token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/u

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 426: 'Upgrade Required' }

function refuseUpgrade(tcp: Duplex, status: number, message: string, headers = ''): false {
  tcp.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
  )
  tcp.once('finish', destroyStream)
  return false
}

function destroyStream(this: Duplex): void {
  this.destroy()
}

/**
 * Answer a WebSocket upgrade request: true once the 101 is written (the socket then speaks frames);
 * false when the request is not a valid WebSocket handshake, after an HTTP error that says why.
 * The first subprotocol a client offers is accepted, as clients that offer one require an answer.
 */
export function acceptUpgrade(req: IncomingMessage, tcp: Duplex): boolean {
  if (req.method !== 'GET') return refuseUpgrade(tcp, 405, 'WebSocket upgrades use GET')
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return refuseUpgrade(tcp, 400, 'Upgrade header must be "websocket"')
  const version = req.headers['sec-websocket-version']
  if (version !== '13') return refuseUpgrade(tcp, 426, 'unsupported WebSocket version; use 13', 'Sec-WebSocket-Version: 13\r\n')
  const key = req.headers['sec-websocket-key']
  if (key === undefined || !KEY.test(key)) return refuseUpgrade(tcp, 400, 'missing or invalid Sec-WebSocket-Key')
  const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64')
  const offered = req.headers['sec-websocket-protocol']?.split(',')[0]?.trim()
  const protocol = offered !== undefined && TOKEN.test(offered) ? `Sec-WebSocket-Protocol: ${offered}\r\n` : ''
  tcp.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${protocol}\r\n`)
  return true
}

/** Payloads up to this size are copied behind their header, so that a frame is one write, not two. */
const COPY_BELOW = 16 * 1024

/** The header of an unmasked, final server frame carrying `length` bytes. */
export function frameHeader(opcode: number, length: number, extra = 0): Buffer {
  let header: Buffer
  if (length < 126) {
    header = Buffer.allocUnsafe(2 + extra)
    header[1] = length
  } else if (length < 0x10000) {
    header = Buffer.allocUnsafe(4 + extra)
    header[1] = 126
    header.writeUInt16BE(length, 2)
  } else {
    header = Buffer.allocUnsafe(10 + extra)
    header[1] = 127
    header.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2)
    header.writeUInt32BE(length >>> 0, 6)
  }
  header[0] = 0x80 | opcode
  return header
}

/**
 * Write one unmasked frame: small payloads in one buffer with their header; large ones as the header and
 * the payload itself, in one `writev` (the caller's cork, or ours).
 */
export function writeFrame(tcp: Duplex, opcode: number, payload: Uint8Array, corked: boolean): void {
  const length = payload.length
  if (length <= COPY_BELOW) {
    const frame = frameHeader(opcode, length, length)
    frame.set(payload, frame.length - length)
    tcp.write(frame)
    return
  }
  if (!corked) tcp.cork()
  tcp.write(frameHeader(opcode, length))
  tcp.write(payload)
  if (!corked) tcp.uncork()
}

/** A close frame's payload: the code and a reason of at most 123 bytes (1005: no payload at all). */
export function closePayload(code: number, reason: string): Uint8Array {
  if (code === WsClose.noStatus) return new Uint8Array(0)
  const text = Buffer.from(reason).subarray(0, 123)
  const payload = Buffer.allocUnsafe(2 + text.length)
  payload.writeUInt16BE(code, 0)
  text.copy(payload, 2)
  return payload
}

/** What the reader hands the socket whose bytes it reads. */
export interface FrameHandler {
  /** A whole message (its fragments joined). */
  message(data: Buffer, binary: boolean): void
  ping(payload: Buffer): void
  /** The peer's close frame (`WsClose.noStatus` when it carried no code). */
  closeFrame(code: number, reason: string): void
  /** The peer broke the protocol: close with `code`. No more frames are read. */
  violation(code: number, reason: string): void
  /** False once the socket closed: the reader stops at the next frame. */
  readonly reading: boolean
}

/**
 * What is left of a socket's input between reads: the bytes of a frame not yet whole, and the
 * fragments of a message not yet finished. It exists only while there is such a remainder.
 */
export class FrameRemainder {
  chunks: Buffer[] = []
  bytes = 0
  /** Bytes of the frame being gathered, once its header was read (0: header incomplete). */
  needed = 0
  fragments: Buffer[] | null = null
  fragmentBytes = 0
  fragmentBinary = false
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const littleEndian = endianness() === 'LE'

/** XOR `buf[start, end)` in place with the 4-byte mask at `buf[maskAt]`, four bytes at a time where aligned. */
function unmask(buf: Buffer, start: number, end: number, maskAt: number): void {
  const m0 = buf[maskAt]
  const m1 = buf[maskAt + 1]
  const m2 = buf[maskAt + 2]
  const m3 = buf[maskAt + 3]
  let i = start
  // Bytes until the address is 4-aligned.
  while (i < end && ((buf.byteOffset + i) & 3) !== 0) {
    const k = (i - start) & 3
    buf[i] ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3
    i++
  }
  const words = (end - i) >>> 2
  if (words > 0) {
    // The mask as a word, rotated to the phase of the first aligned byte, in the machine's byte order.
    const phase = (i - start) & 3
    const b = [m0, m1, m2, m3]
    const r0 = b[phase]
    const r1 = b[(phase + 1) & 3]
    const r2 = b[(phase + 2) & 3]
    const r3 = b[(phase + 3) & 3]
    const word = littleEndian ? (r0 | (r1 << 8) | (r2 << 16) | (r3 << 24)) : ((r0 << 24) | (r1 << 16) | (r2 << 8) | r3)
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words)
    for (let w = 0; w < words; w++) view[w] ^= word
    i += words << 2
  }
  while (i < end) {
    const k = (i - start) & 3
    buf[i] ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3
    i++
  }
}

/**
 * Read the client frames in `chunk` (after what `rest` kept of earlier reads), handing every whole
 * message, ping and close to `handler`. Returns what is left for the next read, or null when nothing is.
 * Limits are checked on each header, before a payload is gathered: a message larger than `maxPayload`
 * is refused with 1009 without buffering it.
 */
export function readFrames(rest: FrameRemainder | null, chunk: Buffer, maxPayload: number, handler: FrameHandler): FrameRemainder | null {
  let buf = chunk
  if (rest !== null && rest.bytes > 0) {
    rest.chunks.push(chunk)
    rest.bytes += chunk.length
    // A large frame arrives in many reads: join them once, when it is whole.
    if (rest.needed > 0 && rest.bytes < rest.needed) return rest
    buf = rest.chunks.length === 1 ? rest.chunks[0] : Buffer.concat(rest.chunks, rest.bytes)
    rest.chunks = []
    rest.bytes = 0
    rest.needed = 0
  }
  let off = 0
  let needed = 0
  while (handler.reading) {
    const avail = buf.length - off
    if (avail < 2) break
    const b0 = buf[off]
    const b1 = buf[off + 1]
    const fin = (b0 & 0x80) !== 0
    const opcode = b0 & 0x0f
    if ((b0 & 0x70) !== 0) return fail(handler, WsClose.protocolError, 'reserved bits set without an extension')
    if ((b1 & 0x80) === 0) return fail(handler, WsClose.protocolError, 'client frames must be masked')
    let length = b1 & 0x7f
    let headerLength = 6
    if (length === 126) {
      if (avail < 4) break
      length = buf.readUInt16BE(off + 2)
      headerLength = 8
    } else if (length === 127) {
      if (avail < 10) break
      const high = buf.readUInt32BE(off + 2)
      // Anything past 2^53 is no length a message of ours can have; larger than maxPayload either way.
      if (high > 0x1f_ffff) return fail(handler, WsClose.tooBig, 'frame too large')
      length = high * 0x1_0000_0000 + buf.readUInt32BE(off + 6)
      headerLength = 14
    }
    if (opcode >= 0x8) {
      if (opcode > Opcode.pong) return fail(handler, WsClose.protocolError, `unknown opcode ${opcode}`)
      if (!fin) return fail(handler, WsClose.protocolError, 'fragmented control frame')
      if (length > 125) return fail(handler, WsClose.protocolError, 'control frame payload over 125 bytes')
    } else {
      if (opcode > Opcode.binary) return fail(handler, WsClose.protocolError, `unknown opcode ${opcode}`)
      const inMessage = rest !== null && rest.fragments !== null
      if (opcode === Opcode.continuation && !inMessage) return fail(handler, WsClose.protocolError, 'continuation frame outside a message')
      if (opcode !== Opcode.continuation && inMessage) return fail(handler, WsClose.protocolError, 'new message before the last one finished')
      if (length + (rest === null ? 0 : rest.fragmentBytes) > maxPayload) return fail(handler, WsClose.tooBig, `message larger than ${maxPayload} bytes`)
    }
    if (avail < headerLength + length) {
      needed = headerLength + length
      break
    }
    const start = off + headerLength
    const end = start + length
    unmask(buf, start, end, start - 4)
    off = end
    const payload = buf.subarray(start, end)
    if (opcode === Opcode.binary || opcode === Opcode.text || opcode === Opcode.continuation) {
      if (fin && opcode !== Opcode.continuation) {
        handler.message(payload, opcode === Opcode.binary)
        continue
      }
      rest ??= new FrameRemainder()
      if (opcode !== Opcode.continuation) {
        rest.fragments = []
        rest.fragmentBytes = 0
        rest.fragmentBinary = opcode === Opcode.binary
      }
      const fragments = rest.fragments as Buffer[]
      if (length > 0) {
        if (fragments.length >= MAX_FRAGMENTS) return fail(handler, WsClose.policy, `message in more than ${MAX_FRAGMENTS} fragments`)
        fragments.push(payload)
      }
      rest.fragmentBytes += length
      if (fin) {
        const message = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments, rest.fragmentBytes)
        rest.fragments = null
        rest.fragmentBytes = 0
        handler.message(message, rest.fragmentBinary)
      }
    } else if (opcode === Opcode.ping) {
      handler.ping(payload)
    } else if (opcode === Opcode.close) {
      if (length === 1) return fail(handler, WsClose.protocolError, 'close frame with a one-byte payload')
      const code = length === 0 ? WsClose.noStatus : payload.readUInt16BE(0)
      if (length > 0 && !validCloseCode(code)) return fail(handler, WsClose.protocolError, `invalid close code ${code}`)
      let reason: string
      try {
        reason = utf8.decode(payload.subarray(2))
      } catch {
        return fail(handler, WsClose.invalidData, 'close reason is not UTF-8')
      }
      handler.closeFrame(code, reason)
      return null
    }
    // Pongs need no answer: any byte read proves the peer alive.
  }
  if (!handler.reading) return null
  if (off < buf.length) {
    rest ??= new FrameRemainder()
    rest.chunks.push(off === 0 ? buf : buf.subarray(off))
    rest.bytes = buf.length - off
    rest.needed = needed
    return rest
  }
  return rest !== null && rest.fragments !== null ? rest : null
}

function fail(handler: FrameHandler, code: number, reason: string): null {
  handler.violation(code, reason)
  return null
}
