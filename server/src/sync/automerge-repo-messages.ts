/**
 * The messages of automerge-repo's WebSocket protocol "1": one CBOR map per binary frame, field names as
 * `@automerge/automerge-repo` and `@automerge/automerge-repo-network-websocket` write them. A client joins
 * (`join`), the server answers with its own peer id (`peer`); after that both sides send per-document
 * messages (`request`, `sync`, `doc-unavailable`, `ephemeral`) addressed by `targetId`.
 */
import { Decoder, Encoder } from 'cbor-x'
import { ErrorCode, MurmurError } from '@murmur/shared'

/** The only protocol version automerge-repo's WebSocket adapters speak. */
export const REPO_PROTOCOL_VERSION = '1'

export const RepoMessageType = {
  join: 'join',
  peer: 'peer',
  error: 'error',
  request: 'request',
  sync: 'sync',
  docUnavailable: 'doc-unavailable',
  ephemeral: 'ephemeral',
  remoteSubscriptionChange: 'remote-subscription-change',
  remoteHeadsChanged: 'remote-heads-changed',
} as const

/** What a peer says about itself: whether it keeps docs, and under which storage id. */
export interface PeerMetadata {
  readonly storageId?: string
  readonly isEphemeral?: boolean
}

export interface JoinMessage {
  readonly type: typeof RepoMessageType.join
  readonly senderId: string
  readonly peerMetadata: PeerMetadata
  /** Absent in clients older than the versioned protocol; they speak "1". */
  readonly supportedProtocolVersions: readonly string[] | undefined
}

export interface PeerMessage {
  readonly type: typeof RepoMessageType.peer
  readonly senderId: string
  readonly peerMetadata: PeerMetadata
  readonly selectedProtocolVersion: typeof REPO_PROTOCOL_VERSION
  readonly targetId: string
}

/** Sent before the sender closes the connection. */
export interface ErrorMessage {
  readonly type: typeof RepoMessageType.error
  readonly senderId: string
  readonly message: string
  readonly targetId: string
}

/** `request` is a sync message from a peer that does not have the doc and asks for it. */
export interface SyncMessage {
  readonly type: typeof RepoMessageType.sync | typeof RepoMessageType.request
  readonly senderId: string
  readonly targetId: string
  readonly documentId: string
  /** One Automerge sync message. */
  readonly data: Uint8Array
}

export interface DocUnavailableMessage {
  readonly type: typeof RepoMessageType.docUnavailable
  readonly senderId: string
  readonly targetId: string
  readonly documentId: string
}

/** Application data for the doc's other peers (presence); `(senderId, sessionId, count)` de-duplicates. */
export interface EphemeralMessage {
  readonly type: typeof RepoMessageType.ephemeral
  readonly senderId: string
  readonly targetId: string
  readonly count: number
  readonly sessionId: string
  readonly documentId: string
  readonly data: Uint8Array
}

/** Remote-heads gossip. Part of the protocol; this server does not take part and ignores them. */
export interface RemoteHeadsMessage {
  readonly type: typeof RepoMessageType.remoteSubscriptionChange | typeof RepoMessageType.remoteHeadsChanged
  readonly senderId: string
}

export type FromClientMessage = JoinMessage | ErrorMessage | SyncMessage | DocUnavailableMessage | EphemeralMessage | RemoteHeadsMessage
export type FromServerMessage = PeerMessage | ErrorMessage | SyncMessage | DocUnavailableMessage | EphemeralMessage

/** Longest peer id, session id or document id accepted. */
const MAX_ID_LENGTH = 256

// The encoder options are automerge-repo's own: plain byte strings, no record extension.
const encoder = new Encoder({ tagUint8Array: false, useRecords: false })
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })

export function encodeRepoMessage(msg: FromServerMessage): Uint8Array {
  return encoder.encode(msg)
}

function malformed(reason: string): MurmurError {
  return new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed automerge-repo message: ${reason}`)
}

type Fields = Record<string, unknown>

function id(fields: Fields, name: string): string {
  const value = fields[name]
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) throw malformed(`${name} must be a non-empty string`)
  return value
}

/** Only the type here: doc ids are checked where they are used (`requireDocId`), alike on every endpoint. */
function documentId(fields: Fields): string {
  const value = fields.documentId
  if (typeof value !== 'string' || value.length > 4096) throw malformed('documentId must be a string')
  return value
}

function optionalId(fields: Fields, name: string): string {
  return fields[name] === undefined ? '' : id(fields, name)
}

function bytes(fields: Fields, name: string): Uint8Array {
  const value = fields[name]
  if (!(value instanceof Uint8Array) || value.length === 0) throw malformed(`${name} must be a non-empty byte string`)
  return value
}

function peerMetadata(value: unknown): PeerMetadata {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object') throw malformed('peerMetadata must be a map')
  const m = value as Fields
  return {
    ...(typeof m.storageId === 'string' ? { storageId: m.storageId } : {}),
    ...(typeof m.isEphemeral === 'boolean' ? { isEphemeral: m.isEphemeral } : {}),
  }
}

/**
 * Decode one frame from a client. Throws MALFORMED_MESSAGE for bytes that are not one CBOR map with the
 * fields of its type, and UNKNOWN_MESSAGE for a type a client may not send.
 */
export function decodeRepoMessage(frame: Uint8Array): FromClientMessage {
  let value: unknown
  try {
    value = decoder.decode(frame)
  } catch (err) {
    throw malformed(`not CBOR (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw malformed('not a map')
  const f = value as Fields
  const type = f.type
  if (typeof type !== 'string') throw malformed('no type')
  switch (type) {
    case RepoMessageType.join: {
      const versions = f.supportedProtocolVersions
      if (versions !== undefined && (!Array.isArray(versions) || !versions.every((v) => typeof v === 'string'))) {
        throw malformed('supportedProtocolVersions must be a list of strings')
      }
      return { type, senderId: id(f, 'senderId'), peerMetadata: peerMetadata(f.peerMetadata), supportedProtocolVersions: versions as string[] | undefined }
    }
    case RepoMessageType.error:
      return { type, senderId: optionalId(f, 'senderId'), targetId: optionalId(f, 'targetId'), message: typeof f.message === 'string' ? f.message : '' }
    case RepoMessageType.request:
    case RepoMessageType.sync:
      return { type, senderId: id(f, 'senderId'), targetId: optionalId(f, 'targetId'), documentId: documentId(f), data: bytes(f, 'data') }
    case RepoMessageType.docUnavailable:
      return { type, senderId: id(f, 'senderId'), targetId: optionalId(f, 'targetId'), documentId: documentId(f) }
    case RepoMessageType.ephemeral: {
      const count = f.count
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw malformed('count must be a non-negative integer')
      return {
        type,
        senderId: id(f, 'senderId'),
        targetId: optionalId(f, 'targetId'),
        count,
        sessionId: id(f, 'sessionId'),
        documentId: documentId(f),
        data: bytes(f, 'data'),
      }
    }
    case RepoMessageType.remoteSubscriptionChange:
    case RepoMessageType.remoteHeadsChanged:
      return { type, senderId: id(f, 'senderId') }
    default:
      throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `a client may not send automerge-repo message type ${JSON.stringify(type.slice(0, 40))}`)
  }
}
