import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '@murmur/shared'

/**
 * The wire format of `@hocuspocus/provider` (3.x and 4.x), one message per binary frame:
 * `varString address · varUint type · body`. The address is the document name, or
 * `name\0session` for a 4.x provider with `sessionAwareness`; replies carry the address they answer.
 */
export const HpMessage = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  stateless: 5,
  close: 7,
  syncStatus: 8,
} as const
export type HpMessage = (typeof HpMessage)[keyof typeof HpMessage]

/** The sub-types of an auth message. */
export const HpAuth = { token: 0, permissionDenied: 1, authenticated: 2 } as const

/** The scope an `authenticated` answer grants, as the provider's `authorizedScope` reads it. */
export const HpScope = { readWrite: 'read-write', readOnly: 'readonly' } as const
export type HpScope = (typeof HpScope)[keyof typeof HpScope]

/** What a provider sends about one document. */
export type HpIncoming =
  /** A y-protocols sync message (SyncStep1, SyncStep2 or update). */
  | { readonly type: typeof HpMessage.sync; readonly message: Uint8Array }
  | { readonly type: typeof HpMessage.awareness; readonly update: Uint8Array }
  /** The provider's token (its first message for a document, and again on a token refresh). */
  | { readonly type: typeof HpMessage.auth; readonly token: string }
  | { readonly type: typeof HpMessage.queryAwareness }
  | { readonly type: typeof HpMessage.stateless; readonly payload: string }
  /** The provider detached from the document. */
  | { readonly type: typeof HpMessage.close }

export interface HpFrame {
  readonly address: string
  readonly message: HpIncoming
}

/** The document name inside an address (`name` or `name\0session`). */
export function documentNameOf(address: string): string {
  const sep = address.indexOf('\u0000')
  return sep === -1 ? address : address.slice(0, sep)
}

export function decodeHpFrame(frame: Uint8Array): HpFrame {
  let address: string
  let type: number
  const dec = decoding.createDecoder(frame)
  try {
    address = decoding.readVarString(dec)
    type = decoding.readVarUint(dec)
  } catch {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'empty or truncated Hocuspocus frame')
  }
  try {
    switch (type) {
      case HpMessage.sync:
        return { address, message: { type, message: frame.subarray(dec.pos) } }
      case HpMessage.awareness:
        return { address, message: { type, update: decoding.readVarUint8Array(dec) } }
      case HpMessage.auth: {
        const sub = decoding.readVarUint(dec)
        if (sub !== HpAuth.token) throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `a provider sends only tokens, not auth message ${sub}`)
        // A provider version may follow the token (4.x); nothing depends on it.
        return { address, message: { type, token: decoding.readVarString(dec) } }
      }
      case HpMessage.queryAwareness:
        return { address, message: { type } }
      case HpMessage.stateless:
        return { address, message: { type, payload: decoding.readVarString(dec) } }
      case HpMessage.close:
        return { address, message: { type } }
      default:
        throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `unknown Hocuspocus message type ${type}`)
    }
  } catch (err) {
    if (err instanceof MurmurError) throw err
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `truncated Hocuspocus message of type ${type}`)
  }
}

/** An address as it starts every frame to one document connection (encoded once per connection). */
export function encodeAddress(address: string): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarString(enc, address)
  return encoding.toUint8Array(enc)
}

/** What a server sends about one document, without its address. */
export type HpOutgoing =
  | { readonly type: typeof HpMessage.sync; readonly message: Uint8Array }
  | { readonly type: typeof HpMessage.awareness; readonly update: Uint8Array }
  | { readonly type: typeof HpMessage.auth; readonly sub: typeof HpAuth.authenticated; readonly scope: HpScope }
  | { readonly type: typeof HpMessage.auth; readonly sub: typeof HpAuth.permissionDenied; readonly reason: string }
  | { readonly type: typeof HpMessage.stateless; readonly payload: string }
  /** The server ended this document connection; the socket and its other documents go on. */
  | { readonly type: typeof HpMessage.close; readonly reason: string }
  /** The answer to each SyncStep2 and update: true once it is applied and durable, false when refused. */
  | { readonly type: typeof HpMessage.syncStatus; readonly applied: boolean }

export function encodeHpBody(m: HpOutgoing): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, m.type)
  switch (m.type) {
    case HpMessage.sync:
      encoding.writeUint8Array(enc, m.message)
      break
    case HpMessage.awareness:
      encoding.writeVarUint8Array(enc, m.update)
      break
    case HpMessage.auth:
      encoding.writeVarUint(enc, m.sub)
      encoding.writeVarString(enc, m.sub === HpAuth.authenticated ? m.scope : m.reason)
      break
    case HpMessage.stateless:
      encoding.writeVarString(enc, m.payload)
      break
    case HpMessage.close:
      encoding.writeVarString(enc, m.reason)
      break
    case HpMessage.syncStatus:
      encoding.writeVarUint(enc, m.applied ? 1 : 0)
      break
  }
  return encoding.toUint8Array(enc)
}

/** One frame: an encoded address, then a body. */
export function joinFrame(address: Uint8Array, body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(address.length + body.length)
  frame.set(address, 0)
  frame.set(body, address.length)
  return frame
}

export function encodeHpFrame(address: string, m: HpOutgoing): Buffer {
  return joinFrame(encodeAddress(address), encodeHpBody(m))
}
