import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import {
  EMPTY_AWARENESS_UPDATE,
  EngineName,
  ErrorCode,
  MurmurError,
  PresenceQuota,
  requireDocId,
  type DocId,
  type SyncSession,
} from '@murmur/shared'
import { principalOf, type ConnectionAuth } from '../auth/auth.js'
import type { LiveDoc } from '../docs/live-doc.js'
import { closeDoc, openDoc, toDoc, type DocClient } from '../docs/doc-client.js'
import type { SyncContext } from './context.js'
import type { ServerSocket, SocketHandler } from '../ws/socket.js'
import type { ClientUpgrade } from '../ws/upgrades.js'
import { BroadcastFrames } from './broadcast.js'

/** y-websocket's outer message types (one message per frame). */
export const YWsMessage = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const

export function encodeYWsFrame(type: number, body: Uint8Array, bodyIsVarArray: boolean): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, type)
  if (bodyIsVarArray) encoding.writeVarUint8Array(enc, body)
  else encoding.writeUint8Array(enc, body)
  return encoding.toUint8Array(enc)
}

type YWsFrame =
  | { readonly type: typeof YWsMessage.sync; readonly message: Uint8Array }
  | { readonly type: typeof YWsMessage.awareness; readonly update: Uint8Array }
  | { readonly type: typeof YWsMessage.auth }
  | { readonly type: typeof YWsMessage.queryAwareness }

export function decodeYWsFrame(frame: Uint8Array): YWsFrame {
  let dec: decoding.Decoder
  let type: number
  try {
    dec = decoding.createDecoder(frame)
    type = decoding.readVarUint(dec)
  } catch {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'empty or truncated frame')
  }
  switch (type) {
    case YWsMessage.sync:
      return { type, message: frame.subarray(dec.pos) }
    case YWsMessage.awareness:
      try {
        return { type, update: decoding.readVarUint8Array(dec) }
      } catch {
        throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'truncated awareness message')
      }
    case YWsMessage.auth:
      return { type }
    case YWsMessage.queryAwareness:
      return { type }
    default:
      throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `unknown y-websocket message type ${type}`)
  }
}

/** Fanned-out doc updates, encoded once per update for every `/yjs` socket (Yjs sessions share them). */
const updateFrames = new BroadcastFrames((message) => encodeYWsFrame(YWsMessage.sync, message, false))

/** The keep-alive: an empty awareness update, a no-op for the client; the same bytes for every socket. */
const KEEP_ALIVE = Buffer.from(encodeYWsFrame(YWsMessage.awareness, EMPTY_AWARENESS_UPDATE, true))

/**
 * One y-websocket client on one doc (`/yjs/<doc>`), and its subscriber to the doc. Frames that arrive
 * while the doc loads are queued and handled, in order, once it has loaded (`DocClient`).
 *
 * `access` was checked for read access at the upgrade. Without write access the sync session is
 * read-only: a SyncStep2 or update that would change the doc closes the socket with 4403 (FORBIDDEN)
 * and changes nothing; reading, and presence, go on working.
 */
export class YWebsocketConnection implements SocketHandler, DocClient<Uint8Array> {
  doc: LiveDoc | null = null
  queued: Uint8Array[] | null = null
  released = false
  private session: SyncSession | null = null
  /** The presence this socket holds (made at its first awareness update). */
  private presence: PresenceQuota | null = null

  constructor(
    private readonly socket: ServerSocket,
    private readonly docId: DocId,
    private readonly ctx: SyncContext,
    private readonly access: ConnectionAuth,
  ) {
    socket.serve(this)
    openDoc(ctx.registry, { engine: EngineName.yjs, docId }, this)
  }

  deliverUpdate(update: Uint8Array): void {
    if (this.session === null) return
    for (const frame of updateFrames.framesFor(update, this.session, 0)) this.socket.send(frame)
  }

  deliverAwareness(update: Uint8Array): void {
    this.socket.send(encodeYWsFrame(YWsMessage.awareness, update, true))
  }

  fail(error: MurmurError): void {
    this.socket.closeWith(error)
  }

  receive(frame: Uint8Array): void {
    toDoc(this, frame)
  }

  handle(frame: Uint8Array): void {
    const doc = this.doc as LiveDoc
    const session = this.session as SyncSession
    const msg = decodeYWsFrame(frame)
    switch (msg.type) {
      case YWsMessage.sync: {
        const { replies, durable } = doc.receiveSync(session, msg.message, this, principalOf(this.access.identity))
        durable.catch(() => undefined) // a storage failure fails the doc and closes its sockets
        for (const r of replies) this.socket.send(encodeYWsFrame(YWsMessage.sync, r, false))
        return
      }
      case YWsMessage.awareness:
        doc.relayAwareness(msg.update, this, (this.presence ??= new PresenceQuota(this.ctx.presence)))
        return
      case YWsMessage.queryAwareness: {
        const all = doc.awareness.encodeAll()
        if (all !== null) this.socket.send(encodeYWsFrame(YWsMessage.awareness, all, true))
        return
      }
      case YWsMessage.auth:
        return
    }
  }

  /** y-websocket clients reconnect after 30 s without a message. Nobody answers it. */
  keepAlive(): boolean {
    this.socket.sendNow(KEEP_ALIVE)
    return false
  }

  closed(): void {
    this.access.dispose()
    closeDoc(this.ctx.registry, this)
  }

  opened(doc: LiveDoc): void {
    const session = doc.doc.createSyncSession({ readOnly: !this.access.can(EngineName.yjs, this.docId, 'write') })
    this.session = session
    for (const m of session.start()) this.socket.send(encodeYWsFrame(YWsMessage.sync, m, false))
    const all = doc.awareness.encodeAll()
    if (all !== null) this.socket.send(encodeYWsFrame(YWsMessage.awareness, all, true))
  }

  loadFailed(err: unknown): void {
    this.socket.closeWith(err)
  }

  broke(err: unknown): void {
    this.socket.closeWith(err)
  }
}

/**
 * `/yjs/<docId>`: the doc is in the path, the token comes with the upgrade; both are checked before the
 * socket is accepted (a doc the token may not read is refused with 4403).
 */
export function serveYWebsocket(upgrade: ClientUpgrade, ctx: SyncContext): void {
  let docId: string
  try {
    docId = decodeURIComponent(upgrade.url.pathname.slice('/yjs/'.length))
  } catch {
    docId = ''
  }
  try {
    requireDocId(docId)
  } catch (err) {
    upgrade.refuse(err)
    return
  }
  upgrade.acceptAuthenticated((socket, access) => {
    if (!access.can(EngineName.yjs, docId, 'read')) {
      access.dispose()
      socket.closeWith(new MurmurError(ErrorCode.FORBIDDEN, `the token does not allow reading yjs:${docId.slice(0, 60)}`))
      return
    }
    new YWebsocketConnection(socket, docId as DocId, ctx, access)
  })
}
