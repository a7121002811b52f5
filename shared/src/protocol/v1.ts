import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '../errors.js'

/**
 * Murmur protocol v1, spoken on `/sync`: one socket, many docs. Every frame is one message: a varuint
 * type followed by its fields in lib0 encoding. docs/protocol.md is the reference.
 */
export const PROTOCOL_MAJOR = 1
export const PROTOCOL_MINOR = 0

export const MessageType = {
  hello: 1,
  welcome: 2,
  open: 3,
  close: 4,
  sync: 5,
  update: 6,
  ack: 7,
  awareness: 8,
  error: 9,
  ping: 10,
  pong: 11,
  auth: 12,
  chunk: 13,
} as const

/** Frames larger than this are sent as chunks, so pings are never stuck behind one huge frame. */
export const CHUNK_BYTES = 64 * 1024
export type MessageType = (typeof MessageType)[keyof typeof MessageType]

export type Message =
  /** Client → server, first message: protocol version and credentials. */
  | { readonly type: typeof MessageType.hello; readonly major: number; readonly minor: number; readonly token: string; readonly client: string }
  /** Server → client: the handshake succeeded. */
  | { readonly type: typeof MessageType.welcome; readonly major: number; readonly minor: number; readonly nodeId: string }
  /** Client → server: start syncing a doc under a client-chosen ref (a small number, ≥ 1). */
  | { readonly type: typeof MessageType.open; readonly ref: number; readonly engine: string; readonly docId: string }
  /** Client → server: stop syncing a doc. */
  | { readonly type: typeof MessageType.close; readonly ref: number }
  /** Both ways: an engine sync message for one doc. */
  | { readonly type: typeof MessageType.sync; readonly ref: number; readonly payload: Uint8Array }
  /** Client → server: a local update the client wants acknowledged once durable. */
  | {
      readonly type: typeof MessageType.update
      readonly ref: number
      readonly id: string
      /** Replicas that must hold it before the ack; 0 or 1 = the receiving node only. */
      readonly replicas: number
      readonly payload: Uint8Array
    }
  /** Server → client: these updates are durable. */
  | { readonly type: typeof MessageType.ack; readonly ref: number; readonly ids: readonly string[] }
  /** Both ways: awareness (presence) for one doc, in y-protocols awareness encoding. */
  | { readonly type: typeof MessageType.awareness; readonly ref: number; readonly payload: Uint8Array }
  /**
   * Server → client: something failed. `ref` 0 = the connection; `updateId` names the update that was
   * not made durable, if any.
   */
  | { readonly type: typeof MessageType.error; readonly ref: number; readonly code: string; readonly message: string; readonly updateId: string }
  | { readonly type: typeof MessageType.ping; readonly nonce: number }
  | { readonly type: typeof MessageType.pong; readonly nonce: number }
  /** Client → server: a fresh token for the live connection. */
  | { readonly type: typeof MessageType.auth; readonly token: string }
  /**
   * Server → client: one piece of a large encoded message. Pieces of one message share `id`, arrive in
   * order, and the one with `last` set completes it; the receiver decodes the concatenation as a frame.
   */
  | { readonly type: typeof MessageType.chunk; readonly id: number; readonly last: boolean; readonly data: Uint8Array }

export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>

export function encodeMessage(msg: Message): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, msg.type)
  switch (msg.type) {
    case MessageType.hello:
      encoding.writeVarUint(e, msg.major)
      encoding.writeVarUint(e, msg.minor)
      encoding.writeVarString(e, msg.token)
      encoding.writeVarString(e, msg.client)
      break
    case MessageType.welcome:
      encoding.writeVarUint(e, msg.major)
      encoding.writeVarUint(e, msg.minor)
      encoding.writeVarString(e, msg.nodeId)
      break
    case MessageType.open:
      encoding.writeVarUint(e, msg.ref)
      encoding.writeVarString(e, msg.engine)
      encoding.writeVarString(e, msg.docId)
      break
    case MessageType.close:
      encoding.writeVarUint(e, msg.ref)
      break
    case MessageType.sync:
    case MessageType.awareness:
      encoding.writeVarUint(e, msg.ref)
      encoding.writeVarUint8Array(e, msg.payload)
      break
    case MessageType.update:
      encoding.writeVarUint(e, msg.ref)
      encoding.writeVarString(e, msg.id)
      encoding.writeVarUint(e, msg.replicas)
      encoding.writeVarUint8Array(e, msg.payload)
      break
    case MessageType.ack:
      encoding.writeVarUint(e, msg.ref)
      encoding.writeVarUint(e, msg.ids.length)
      for (const id of msg.ids) encoding.writeVarString(e, id)
      break
    case MessageType.error:
      encoding.writeVarUint(e, msg.ref)
      encoding.writeVarString(e, msg.code)
      encoding.writeVarString(e, msg.message)
      encoding.writeVarString(e, msg.updateId)
      break
    case MessageType.ping:
    case MessageType.pong:
      encoding.writeVarUint(e, msg.nonce)
      break
    case MessageType.auth:
      encoding.writeVarString(e, msg.token)
      break
    case MessageType.chunk:
      encoding.writeVarUint(e, msg.id)
      encoding.writeVarUint(e, msg.last ? 1 : 0)
      encoding.writeVarUint8Array(e, msg.data)
      break
  }
  return encoding.toUint8Array(e)
}

/** The type of a frame without decoding the rest (for routing and metrics). */
export function peekMessageType(frame: Uint8Array): number {
  try {
    return decoding.readVarUint(decoding.createDecoder(frame))
  } catch {
    return -1
  }
}

/**
 * Decode one frame. Throws MurmurError MALFORMED_MESSAGE on truncated or trailing bytes and
 * UNKNOWN_MESSAGE on a type this version does not know.
 */
export function decodeMessage(frame: Uint8Array): Message {
  const d = decoding.createDecoder(frame)
  let msg: Message
  let type: number
  try {
    type = decoding.readVarUint(d)
  } catch {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'empty frame')
  }
  try {
    switch (type) {
      case MessageType.hello:
        msg = { type, major: readUint(d), minor: readUint(d), token: decoding.readVarString(d), client: decoding.readVarString(d) }
        break
      case MessageType.welcome:
        msg = { type, major: readUint(d), minor: readUint(d), nodeId: decoding.readVarString(d) }
        break
      case MessageType.open:
        msg = { type, ref: readRef(d), engine: decoding.readVarString(d), docId: decoding.readVarString(d) }
        break
      case MessageType.close:
        msg = { type, ref: readRef(d) }
        break
      case MessageType.sync:
      case MessageType.awareness:
        msg = { type, ref: readRef(d), payload: decoding.readVarUint8Array(d) }
        break
      case MessageType.update:
        msg = { type, ref: readRef(d), id: decoding.readVarString(d), replicas: readUint(d), payload: decoding.readVarUint8Array(d) }
        break
      case MessageType.ack: {
        const ref = readRef(d)
        const count = readUint(d)
        if (count > frame.length) throw new Error('ack count larger than the frame')
        const ids: string[] = []
        for (let i = 0; i < count; i++) ids.push(decoding.readVarString(d))
        msg = { type, ref, ids }
        break
      }
      case MessageType.error:
        msg = { type, ref: readUint(d), code: decoding.readVarString(d), message: decoding.readVarString(d), updateId: decoding.readVarString(d) }
        break
      case MessageType.ping:
      case MessageType.pong:
        msg = { type, nonce: readUint(d) }
        break
      case MessageType.auth:
        msg = { type, token: decoding.readVarString(d) }
        break
      case MessageType.chunk:
        msg = { type, id: readUint(d), last: readUint(d) === 1, data: decoding.readVarUint8Array(d) }
        break
      default:
        throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `unknown message type ${type}`)
    }
  } catch (err) {
    if (err instanceof MurmurError) throw err
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed message of type ${type}: ${(err as Error).message}`)
  }
  if (decoding.hasContent(d)) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `trailing bytes after message of type ${type}`)
  return msg
}

function readUint(d: decoding.Decoder): number {
  const n = decoding.readVarUint(d)
  if (!Number.isSafeInteger(n)) throw new Error('integer out of range')
  return n
}

function readRef(d: decoding.Decoder): number {
  const ref = readUint(d)
  if (ref === 0) throw new Error('doc ref 0 is reserved for the connection')
  return ref
}

/** Split an encoded frame into chunk messages (encoded) when it is larger than `CHUNK_BYTES`. */
export function chunkFrame(frame: Uint8Array, id: number, size = CHUNK_BYTES): Uint8Array[] {
  if (frame.length <= size) return [frame]
  const out: Uint8Array[] = []
  for (let offset = 0; offset < frame.length; offset += size) {
    const data = frame.subarray(offset, offset + size)
    out.push(encodeMessage({ type: MessageType.chunk, id, last: offset + size >= frame.length, data }))
  }
  return out
}

/** Reassembles chunked frames; `push` returns the complete frame once its last chunk arrived. */
export class ChunkAssembler {
  private id = -1
  private parts: Uint8Array[] = []
  private bytes = 0

  constructor(private readonly maxBytes: number) {}

  push(msg: MessageOf<typeof MessageType.chunk>): Uint8Array | null {
    if (msg.id !== this.id) {
      this.id = msg.id
      this.parts = []
      this.bytes = 0
    }
    this.parts.push(msg.data)
    this.bytes += msg.data.length
    if (this.bytes > this.maxBytes) throw new MurmurError(ErrorCode.FRAME_TOO_LARGE, 'chunked message too large')
    if (!msg.last) return null
    const out = new Uint8Array(this.bytes)
    let offset = 0
    for (const p of this.parts) {
      out.set(p, offset)
      offset += p.length
    }
    this.parts = []
    this.bytes = 0
    this.id = -1
    return out
  }
}
