import {
  ErrorCode,
  CHUNK_BYTES,
  MessageType,
  MurmurError,
  chunkFrame,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  decodeMessage,
  encodeMessage,
  isDocId,
  isEngineName,
  type DocId,
  type Message,
  type MessageOf,
  type SyncSession,
} from '@murmur/shared'
import { ConnectionAuth } from '../auth/auth.js'
import type { DocSubscriber, LiveDoc } from '../docs/live-doc.js'
import type { DocKey } from '../storage/storage.js'
import type { SyncContext } from './context.js'
import type { ServerSocket } from './socket.js'

/** Most docs one socket may have open at once. */
const MAX_OPEN_DOCS = 10_000

/** Frames that may wait while a token is checked; a client that sends more is flooding. */
const MAX_WAITING_FRAMES = 10_000

/** Errors that refuse one doc's message without ending the connection (other docs share the socket). */
const DOC_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.FORBIDDEN, ErrorCode.DOC_TOO_LARGE, ErrorCode.DOC_DELETED])

function isDocRefusal(err: unknown): err is MurmurError {
  return err instanceof MurmurError && DOC_REFUSALS.has(err.code)
}

/** One doc open on a `/sync` socket. Messages for it wait in `queued` until its load finished. */
interface Binding {
  readonly ref: number
  readonly key: DocKey
  /** The token allows writes to this doc; otherwise its sync session is read-only and updates are refused. */
  canWrite: boolean
  doc: LiveDoc | null
  session: SyncSession | null
  readonly queued: Message[]
  readonly subscriber: DocSubscriber
  closed: boolean
  /** Acked update ids not yet sent (batched per turn of the event loop). */
  pendingAcks: string[]
}

/**
 * A client of Murmur protocol v1 (`/sync`): hello/welcome, then any number of docs over the one socket,
 * each under its own ref; a doc's messages only ever reach that doc's binding.
 *
 * Auth: hello carries the token (or, when it carries none, the upgrade request's `upgradeToken`). Each
 * open needs read access, each write needs write access; a refused doc message gets an error for its ref
 * and the connection goes on. An `auth` message replaces the token on the live socket; when the token
 * expires the socket is closed with 4401.
 */
export function serveMurmurSync(socket: ServerSocket, ctx: SyncContext, upgradeToken = ''): void {
  const bindings = new Map<number, Binding>()
  let welcomed = false
  let access: ConnectionAuth | null = null
  /** A token is being checked: frames wait, in order, until it is done. */
  let checking = false
  const waiting: Uint8Array[] = []

  let chunkId = 0
  // Large messages (a big doc's first sync) go out in chunks, so a ping never waits behind a whole one.
  const send = (msg: Message): void => {
    const frame = encodeMessage(msg)
    if (frame.length <= CHUNK_BYTES) socket.send(frame)
    else for (const piece of chunkFrame(frame, ++chunkId)) socket.send(piece)
  }
  const sendError = (ref: number, error: MurmurError, updateId = ''): void => {
    if (ref !== 0) ctx.metrics?.error(error.code)
    send({ type: MessageType.error, ref, code: error.code, message: error.message, updateId })
  }

  /** Tell the client why, then close with the matching code. */
  const fatal = (err: unknown): void => {
    if (err instanceof MurmurError) sendError(0, err)
    socket.closeWith(err)
  }

  const flushAcks = (b: Binding): void => {
    if (b.pendingAcks.length === 0 || b.closed) return
    send({ type: MessageType.ack, ref: b.ref, ids: b.pendingAcks })
    b.pendingAcks = []
  }

  const makeBinding = (ref: number, key: DocKey, canWrite: boolean): Binding => {
    const b: Binding = {
      ref,
      key,
      canWrite,
      doc: null,
      session: null,
      queued: [],
      closed: false,
      pendingAcks: [],
      subscriber: {
        deliverUpdate(update) {
          if (b.session === null) return
          for (const payload of b.session.onDocUpdate(update)) send({ type: MessageType.sync, ref, payload })
        },
        deliverAwareness(payload) {
          send({ type: MessageType.awareness, ref, payload })
        },
        fail(error) {
          sendError(ref, error)
          b.closed = true
          bindings.delete(ref)
        },
      },
    }
    return b
  }

  const handleDocMessage = (b: Binding, msg: Message): void => {
    const doc = b.doc
    const session = b.session
    if (doc === null || session === null) {
      b.queued.push(msg)
      return
    }
    switch (msg.type) {
      case MessageType.sync: {
        let result: ReturnType<LiveDoc['receiveSync']>
        try {
          result = doc.receiveSync(session, msg.payload, b.subscriber)
        } catch (err) {
          // A reader's changes (read-only session), or a doc at its size limit: refused, the doc unchanged.
          if (!isDocRefusal(err)) throw err
          sendError(b.ref, err)
          return
        }
        const { replies, durable } = result
        durable.catch(() => undefined) // a storage failure fails the doc, which tells its subscribers
        for (const payload of replies) send({ type: MessageType.sync, ref: b.ref, payload })
        return
      }
      case MessageType.update: {
        const id = msg.id
        const payload = msg.payload
        const replicas = msg.replicas
        const arrived = performance.now()
        if (!b.canWrite) {
          sendError(b.ref, new MurmurError(ErrorCode.FORBIDDEN, 'read-only: the token does not allow writes to this doc'), id)
          return
        }
        let durable: Promise<void>
        try {
          durable = doc.apply(payload, b.subscriber)
        } catch (err) {
          if (!isDocRefusal(err)) throw err
          sendError(b.ref, err, id)
          return
        }
        session.peerHas?.(payload)
        // In a cluster every ack involves a replica: W replicas when asked, and at least one when this
        // node does not replicate the doc itself (its own fsync alone would leave the only copy here).
        if (replicas > 1 || ctx.cluster !== null) {
          durable = durable.then(() => {
            if (ctx.cluster === null) throw new MurmurError(ErrorCode.REPLICATION_TIMEOUT, `asked for ${replicas} replicas; this node is not in a cluster`)
            return ctx.cluster.replicate(doc.key, payload, Math.max(1, replicas))
          })
        }
        durable.then(
          () => {
            ctx.metrics?.acked((performance.now() - arrived) / 1000)
            if (b.pendingAcks.length === 0) setImmediate(() => flushAcks(b))
            b.pendingAcks.push(id)
          },
          (err: unknown) => {
            if (!b.closed) sendError(b.ref, err instanceof MurmurError ? err : new MurmurError(ErrorCode.STORAGE_FAILED, 'not durable'), id)
          },
        )
        return
      }
      case MessageType.awareness:
        doc.relayAwareness(msg.payload, b.subscriber)
        return
      default:
        return
    }
  }

  const open = (msg: MessageOf<typeof MessageType.open>): void => {
    if (bindings.has(msg.ref)) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `doc ref ${msg.ref} is already open`)
    if (!isEngineName(msg.engine)) throw new MurmurError(ErrorCode.UNKNOWN_ENGINE, `unknown engine ${msg.engine.slice(0, 40)}`)
    if (!isDocId(msg.docId)) throw new MurmurError(ErrorCode.INVALID_DOC_ID, 'invalid doc id')
    if (bindings.size >= MAX_OPEN_DOCS) throw new MurmurError(ErrorCode.RATE_LIMITED, `at most ${MAX_OPEN_DOCS} docs per socket`)
    const key: DocKey = { engine: msg.engine, docId: msg.docId as DocId }
    const auth = access as ConnectionAuth
    if (!auth.can(key.engine, key.docId, 'read')) {
      // The ref stays unused, so the client may try again (after a token refresh) under the same ref.
      sendError(msg.ref, new MurmurError(ErrorCode.FORBIDDEN, `the token does not allow reading ${key.engine}:${key.docId.slice(0, 80)}`))
      return
    }
    const b = makeBinding(msg.ref, key, auth.can(key.engine, key.docId, 'write'))
    bindings.set(msg.ref, b)
    ctx.registry.acquire(key, b.subscriber).then(
      (doc) => {
        if (b.closed) {
          ctx.registry.release(doc, b.subscriber)
          return
        }
        b.doc = doc
        b.session = doc.doc.createSyncSession({ readOnly: !b.canWrite })
        for (const payload of b.session.start()) send({ type: MessageType.sync, ref: b.ref, payload })
        const all = doc.awareness.encodeAll()
        if (all !== null) send({ type: MessageType.awareness, ref: b.ref, payload: all })
        try {
          for (const queued of b.queued.splice(0)) handleDocMessage(b, queued)
        } catch (err) {
          fatal(err)
        }
      },
      (err: unknown) => {
        // The doc is not served at all rather than served empty; other docs on this socket go on.
        b.closed = true
        bindings.delete(b.ref)
        sendError(b.ref, err instanceof MurmurError ? err : new MurmurError(ErrorCode.LOAD_FAILED, 'load failed'))
      },
    )
  }

  const close = (ref: number): void => {
    const b = bindings.get(ref)
    if (b === undefined) return
    b.closed = true
    bindings.delete(ref)
    if (b.doc !== null) ctx.registry.release(b.doc, b.subscriber)
  }

  /** After a token change: drop docs it no longer lets us read, switch sessions whose write right changed. */
  const recheckBindings = (auth: ConnectionAuth): void => {
    for (const b of [...bindings.values()]) {
      if (!auth.can(b.key.engine, b.key.docId, 'read')) {
        sendError(b.ref, new MurmurError(ErrorCode.FORBIDDEN, `the new token does not allow reading ${b.key.engine}:${b.key.docId.slice(0, 80)}; closed`))
        close(b.ref)
        continue
      }
      const canWrite = auth.can(b.key.engine, b.key.docId, 'write')
      if (canWrite === b.canWrite) continue
      b.canWrite = canWrite
      if (b.doc === null || b.session === null) continue
      // A session's read-only flag is fixed, so a new one replaces it; it starts over with the client.
      b.session = b.doc.doc.createSyncSession({ readOnly: !canWrite })
      for (const payload of b.session.start()) send({ type: MessageType.sync, ref: b.ref, payload })
    }
  }

  /** Check a token (hello or auth), holding later frames until it is done. */
  const checkToken = (token: string, then: (auth: ConnectionAuth) => void): void => {
    checking = true
    const expired = (): void => fatal(new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired; send a fresh one with auth before it expires'))
    const checked =
      access === null
        ? ctx.auth.authenticate(token).then((identity) => (access = new ConnectionAuth(ctx.auth, identity, expired)))
        : access.refresh(token).then(() => access as ConnectionAuth)
    checked.then(
      (auth) => {
        checking = false
        if (!socket.isOpen) {
          // Closed while the token was checked: the close handler may have run before `access` existed.
          auth.dispose()
          return
        }
        then(auth)
        while (!checking && waiting.length > 0 && socket.isOpen) handleFrame(waiting.shift() as Uint8Array)
      },
      (err: unknown) => {
        checking = false
        waiting.length = 0
        fatal(err)
      },
    )
  }

  const handleFrame = (frame: Uint8Array): void => {
    let msg: Message
    try {
      msg = decodeMessage(frame)
    } catch (err) {
      fatal(err)
      return
    }
    if (!welcomed) {
      if (msg.type !== MessageType.hello || access !== null) {
        fatal(new MurmurError(ErrorCode.HANDSHAKE_REQUIRED, 'the first message must be hello'))
        return
      }
      if (msg.major !== PROTOCOL_MAJOR) {
        fatal(new MurmurError(ErrorCode.UNSUPPORTED_VERSION, `protocol ${msg.major}.x is not supported; this server speaks ${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`))
        return
      }
      checkToken(msg.token !== '' ? msg.token : upgradeToken, () => {
        welcomed = true
        send({ type: MessageType.welcome, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, nodeId: ctx.nodeId })
      })
      return
    }
    try {
      switch (msg.type) {
        case MessageType.open:
          open(msg)
          return
        case MessageType.close:
          close(msg.ref)
          return
        case MessageType.sync:
        case MessageType.update:
        case MessageType.awareness: {
          const b = bindings.get(msg.ref)
          if (b === undefined) {
            // A doc closed (or failed) a moment ago may still have messages in flight; say so, keep going.
            sendError(msg.ref, new MurmurError(ErrorCode.UNKNOWN_DOC_REF, `doc ref ${msg.ref} is not open`), msg.type === MessageType.update ? msg.id : '')
            return
          }
          handleDocMessage(b, msg)
          return
        }
        case MessageType.ping:
          socket.sendNow(encodeMessage({ type: MessageType.pong, nonce: msg.nonce }))
          return
        case MessageType.pong:
          return
        case MessageType.auth:
          checkToken(msg.token, recheckBindings)
          return
        default:
          throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `a client may not send message type ${msg.type}`)
      }
    } catch (err) {
      fatal(err)
    }
  }

  socket.onFrame((frame) => {
    if (!checking) {
      handleFrame(frame)
      return
    }
    if (waiting.length >= MAX_WAITING_FRAMES) {
      fatal(new MurmurError(ErrorCode.RATE_LIMITED, 'too many messages while the token is checked'))
      return
    }
    waiting.push(frame)
  })

  const keepAlive = setInterval(() => {
    if (Date.now() - socket.lastSendAt >= ctx.config.keepAliveMs * 0.9) {
      socket.sendNow(encodeMessage({ type: MessageType.ping, nonce: 0 }))
    }
  }, ctx.config.keepAliveMs)
  keepAlive.unref()

  socket.ws.on('close', () => {
    clearInterval(keepAlive)
    access?.dispose()
    for (const ref of [...bindings.keys()]) close(ref)
  })
}
