import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import {
  EMPTY_AWARENESS_UPDATE,
  EngineName,
  ErrorCode,
  MurmurError,
  type DocId,
  type SyncSession,
} from '@murmur/shared'
import type { ConnectionAuth } from '../auth/auth.js'
import type { DocSubscriber, LiveDoc } from '../docs/live-doc.js'
import type { SyncContext } from './context.js'
import type { ServerSocket } from './socket.js'

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

/**
 * One y-websocket client on one doc (`/yjs/<doc>`). Frames that arrive while the doc loads are queued
 * and handled, in order, once it has loaded.
 *
 * `access` was checked for read access at the upgrade. Without write access the sync session is
 * read-only: a SyncStep2 or update that would change the doc closes the socket with 4403 (FORBIDDEN)
 * and changes nothing; reading, and presence, go on working.
 */
export function serveYWebsocket(socket: ServerSocket, docId: DocId, ctx: SyncContext, access: ConnectionAuth): void {
  const key = { engine: EngineName.yjs, docId }
  let doc: LiveDoc | null = null
  let session: SyncSession | null = null
  const queued: Uint8Array[] = []
  let released = false

  const subscriber: DocSubscriber = {
    deliverUpdate(update) {
      if (session === null) return
      for (const m of session.onDocUpdate(update)) socket.send(encodeYWsFrame(YWsMessage.sync, m, false))
    },
    deliverAwareness(update) {
      socket.send(encodeYWsFrame(YWsMessage.awareness, update, true))
    },
    fail(error) {
      socket.closeWith(error)
    },
  }

  const handle = (frame: Uint8Array): void => {
    if (doc === null || session === null) {
      queued.push(frame)
      return
    }
    const msg = decodeYWsFrame(frame)
    switch (msg.type) {
      case YWsMessage.sync: {
        const { replies, durable } = doc.receiveSync(session, msg.message, subscriber)
        durable.catch(() => undefined) // a storage failure fails the doc and closes its sockets
        for (const r of replies) socket.send(encodeYWsFrame(YWsMessage.sync, r, false))
        return
      }
      case YWsMessage.awareness:
        doc.relayAwareness(msg.update, subscriber)
        return
      case YWsMessage.queryAwareness: {
        const all = doc.awareness.encodeAll()
        if (all !== null) socket.send(encodeYWsFrame(YWsMessage.awareness, all, true))
        return
      }
      case YWsMessage.auth:
        return
    }
  }
  socket.onFrame(handle)

  const keepAlive = setInterval(() => {
    // y-websocket clients reconnect after 30 s without a message; an empty awareness update is a no-op.
    if (Date.now() - socket.lastSendAt >= ctx.config.keepAliveMs * 0.9) {
      socket.sendNow(encodeYWsFrame(YWsMessage.awareness, EMPTY_AWARENESS_UPDATE, true))
    }
  }, ctx.config.keepAliveMs)
  keepAlive.unref()

  socket.ws.on('close', () => {
    clearInterval(keepAlive)
    access.dispose()
    released = true
    if (doc !== null) ctx.registry.release(doc, subscriber)
  })

  ctx.registry.acquire(key, subscriber).then(
    (loaded) => {
      if (released) {
        ctx.registry.release(loaded, subscriber)
        return
      }
      doc = loaded
      session = loaded.doc.createSyncSession({ readOnly: !access.can(EngineName.yjs, docId, 'write') })
      for (const m of session.start()) socket.send(encodeYWsFrame(YWsMessage.sync, m, false))
      const all = loaded.awareness.encodeAll()
      if (all !== null) socket.send(encodeYWsFrame(YWsMessage.awareness, all, true))
      try {
        for (const frame of queued.splice(0)) handle(frame)
      } catch (err) {
        socket.closeWith(err)
      }
    },
    (err: unknown) => socket.closeWith(err),
  )
}
