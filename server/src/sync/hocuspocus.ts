import {
  EMPTY_AWARENESS_UPDATE,
  EngineName,
  ErrorCode,
  MurmurError,
  YSyncMessage,
  decodeYSyncMessage,
  isDocId,
  type DocId,
  type SyncSession,
  INVALID_DOC_ID_MESSAGE,
  PresenceQuota,
} from '@murmur/shared'
import { ConnectionAuth } from '../auth/auth.js'
import type { DocSubscriber, LiveDoc } from '../docs/live-doc.js'
import type { SyncContext } from './context.js'
import type { ServerSocket, SocketHandler } from '../ws/socket.js'
import type { ClientUpgrade } from '../ws/upgrades.js'
import { BroadcastFrames } from './broadcast.js'
import {
  HpAuth,
  HpMessage,
  HpScope,
  decodeHpFrame,
  documentNameOf,
  encodeAddress,
  encodeHpBody,
  encodeHpFrame,
  joinFrame,
  type HpIncoming,
  type HpOutgoing,
} from './hocuspocus-messages.js'

/** Documents one socket may have open at once, as on the other endpoints. */
const MAX_OPEN_DOCS = 10_000
/** Messages a socket may send for documents not yet authenticated or loaded, all documents together. */
const MAX_QUEUED_MESSAGES = 1000
const MAX_QUEUED_BYTES = 8 * 1024 * 1024

/**
 * The reason of every refused token or document, as Hocuspocus gives it when an `onAuthenticate` hook
 * throws: apps compare `onAuthenticationFailed`'s reason with it. The detail goes to the server's log.
 */
const PERMISSION_DENIED = 'permission-denied'

/** Errors that end one document connection, not the socket its other documents share. */
const DOC_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.FORBIDDEN, ErrorCode.DOC_TOO_LARGE])

/** Fanned-out doc updates: one body per update for every Hocuspocus document connection (Yjs sessions share it). */
const updateBodies = new BroadcastFrames((message) => encodeHpBody({ type: HpMessage.sync, message }))

function forgetFrames(memo: AddressedFrames): void {
  memo.clear()
}

/**
 * The frames of the update being fanned out, by address. Providers of one document share its name as
 * their address (unless 4.x `sessionAwareness` adds a session), so most sockets are sent the very same
 * bytes. Dropped at the end of the tick, like `BroadcastFrames`.
 */
class AddressedFrames {
  private update: Uint8Array | null = null
  private readonly frames = new Map<string, readonly Buffer[]>()

  framesFor(update: Uint8Array, session: SyncSession, address: string, prefix: Uint8Array): readonly Buffer[] {
    if (update !== this.update) {
      if (this.update === null) process.nextTick(forgetFrames, this)
      this.update = update
      this.frames.clear()
    }
    let frames = this.frames.get(address)
    if (frames === undefined) {
      frames = updateBodies.framesFor(update, session, 0).map((body) => joinFrame(prefix, body))
      this.frames.set(address, frames)
    }
    return frames
  }

  clear(): void {
    this.update = null
    this.frames.clear()
  }
}

const updateFrames = new AddressedFrames()

/**
 * The keep-alive, for providers that reconnect after 30 s without a message: an empty awareness update
 * addressed to no document (the empty name), which every provider version drops after noting the traffic.
 */
const KEEP_ALIVE = encodeHpFrame('', { type: HpMessage.awareness, update: EMPTY_AWARENESS_UPDATE })

/** The `/hocuspocus` row of the edge table: every document is authenticated by its own auth message. */
export function serveHocuspocus(upgrade: ClientUpgrade, ctx: SyncContext): void {
  upgrade.accept((socket) => new HocuspocusConnection(socket, ctx, upgrade.token))
}

/** Whether an upgrade to `pathname` is for the endpoint at `path` (with or without a trailing slash; "" = off). */
export function isHocuspocusPath(path: string, pathname: string): boolean {
  return path !== '' && (pathname === path || pathname === `${path}/`)
}

const Stage = { authenticating: 0, loading: 1, open: 2, closed: 3 } as const
type Stage = (typeof Stage)[keyof typeof Stage]

/**
 * One socket of `@hocuspocus/provider` clients (`/hocuspocus`): any number of documents, each opened by
 * its own auth message and served by a `HocuspocusDoc`. Documents are Yjs docs of the same store the other
 * endpoints serve: `/yjs/<name>` and the SDK's `client.yjs(name)` see the same doc.
 */
export class HocuspocusConnection implements SocketHandler {
  private readonly docs = new Map<string, HocuspocusDoc>()
  queuedMessages = 0
  queuedBytes = 0

  constructor(
    readonly socket: ServerSocket,
    readonly ctx: SyncContext,
    /** The token of the upgrade request (`?token=`, `Authorization`), used when an auth message has none. */
    readonly upgradeToken: string,
  ) {
    socket.serve(this)
  }

  receive(frame: Uint8Array): void {
    const { address, message } = decodeHpFrame(frame)
    let doc = this.docs.get(address)
    if (doc === undefined) {
      // A provider detaching from a document it never opened here (a refused one): nothing to do.
      if (message.type === HpMessage.close) return
      if (this.docs.size >= MAX_OPEN_DOCS) throw new MurmurError(ErrorCode.RATE_LIMITED, `at most ${MAX_OPEN_DOCS} documents per socket`)
      doc = new HocuspocusDoc(this, address)
      this.docs.set(address, doc)
    }
    doc.receive(message, frame.length)
  }

  /** A document connection ended: its address may be opened afresh. */
  forget(doc: HocuspocusDoc): void {
    if (this.docs.get(doc.address) === doc) this.docs.delete(doc.address)
  }

  keepAlive(): boolean {
    this.socket.sendNow(KEEP_ALIVE)
    return false
  }

  closed(): void {
    for (const doc of this.docs.values()) doc.end()
    this.docs.clear()
  }
}

/**
 * One document on a Hocuspocus socket, and its subscriber to the doc. Like Hocuspocus, it waits for the
 * provider's token and queues what comes before it; a refused token or document is answered with
 * `permission-denied` and forgotten, so that the provider may try again. Once authenticated, sync goes
 * through `LiveDoc.receiveSync` as on `/yjs`, and every SyncStep2 and update is answered with a sync
 * status: applied once durable (fsynced on this node), or refused. A read-only token
 * gets the `readonly` scope, and its changes are refused and never applied.
 */
export class HocuspocusDoc implements DocSubscriber {
  private stage: Stage = Stage.authenticating
  private access: ConnectionAuth | null = null
  private doc: LiveDoc | null = null
  private session: SyncSession | null = null
  private readOnly = true
  /** The first auth message arrived (its check may still run); later ones are token refreshes. */
  private authStarted = false
  private queued: HpIncoming[] = []
  private queuedBytes = 0
  private readonly prefix: Uint8Array
  /** The presence this socket holds on this doc (made at its first awareness update). */
  private presence: PresenceQuota | null = null
  private readonly docId: string

  constructor(
    private readonly conn: HocuspocusConnection,
    readonly address: string,
  ) {
    this.prefix = encodeAddress(address)
    this.docId = documentNameOf(address)
  }

  receive(message: HpIncoming, bytes: number): void {
    if (this.stage === Stage.open) {
      this.handle(message)
      return
    }
    if (this.stage === Stage.closed) return
    if (message.type === HpMessage.auth && !this.authStarted) {
      this.authStarted = true
      this.authenticate(message.token)
      return
    }
    const conn = this.conn
    if (conn.queuedMessages + 1 > MAX_QUEUED_MESSAGES || conn.queuedBytes + bytes > MAX_QUEUED_BYTES) {
      throw new MurmurError(ErrorCode.RATE_LIMITED, 'too many messages before the documents they address were authenticated')
    }
    conn.queuedMessages++
    conn.queuedBytes += bytes
    this.queuedBytes += bytes
    this.queued.push(message)
  }

  private send(m: HpOutgoing): void {
    this.conn.socket.send(joinFrame(this.prefix, encodeHpBody(m)))
  }

  private authenticate(token: string): void {
    const { ctx, socket } = this.conn
    ctx.auth.authenticate(token !== '' ? token : this.conn.upgradeToken).then(
      (identity) => {
        if (this.stage === Stage.closed) return
        if (!isDocId(this.docId)) return this.refuse(new MurmurError(ErrorCode.INVALID_DOC_ID, INVALID_DOC_ID_MESSAGE))
        const access = new ConnectionAuth(ctx.auth, identity, () => socket.closeWith(new MurmurError(ErrorCode.UNAUTHORIZED, 'token expired')))
        if (!access.can(EngineName.yjs, this.docId, 'read')) {
          access.dispose()
          return this.refuse(new MurmurError(ErrorCode.FORBIDDEN, `the token does not allow reading yjs:${this.docId.slice(0, 60)}`))
        }
        this.access = access
        this.readOnly = !access.can(EngineName.yjs, this.docId, 'write')
        this.send({ type: HpMessage.auth, sub: HpAuth.authenticated, scope: this.readOnly ? HpScope.readOnly : HpScope.readWrite })
        this.stage = Stage.loading
        ctx.registry.acquire({ engine: EngineName.yjs, docId: this.docId as DocId }, this).then(
          (doc) => this.loaded(doc),
          (err: unknown) => this.fail(err),
        )
      },
      (err: unknown) => this.refuse(err),
    )
  }

  /** Answer `permission-denied` and forget this document connection (what Hocuspocus does). */
  private refuse(err: unknown): void {
    if (this.stage === Stage.closed) return
    const detail = err instanceof MurmurError ? { code: err.code, msg: err.message } : { err }
    this.conn.ctx.log.debug({ ...detail, doc: this.docId.slice(0, 80) }, 'hocuspocus document refused')
    if (err instanceof MurmurError) this.conn.ctx.metrics?.error(err.code)
    this.send({ type: HpMessage.auth, sub: HpAuth.permissionDenied, reason: PERMISSION_DENIED })
    this.end()
    this.conn.forget(this)
  }

  private loaded(doc: LiveDoc): void {
    if (this.stage === Stage.closed) {
      this.conn.ctx.registry.release(doc, this)
      return
    }
    this.doc = doc
    this.session = doc.doc.createSyncSession({ readOnly: this.readOnly })
    this.stage = Stage.open
    const all = doc.awareness.encodeAll()
    if (all !== null) this.send({ type: HpMessage.awareness, update: all })
    const queued = this.queued
    this.dropQueue()
    try {
      for (const m of queued) if (this.stage === Stage.open) this.handle(m)
    } catch (err) {
      this.conn.socket.closeWith(err)
    }
  }

  private dropQueue(): void {
    this.conn.queuedMessages -= this.queued.length
    this.conn.queuedBytes -= this.queuedBytes
    this.queued = []
    this.queuedBytes = 0
  }

  private handle(m: HpIncoming): void {
    const doc = this.doc as LiveDoc
    switch (m.type) {
      case HpMessage.sync:
        this.sync(doc, this.session as SyncSession, m.message)
        return
      case HpMessage.awareness:
        doc.relayAwareness(m.update, this, (this.presence ??= new PresenceQuota(this.conn.ctx.presence)))
        return
      case HpMessage.queryAwareness:
        this.send({ type: HpMessage.awareness, update: doc.awareness.encodeAll() ?? EMPTY_AWARENESS_UPDATE })
        return
      case HpMessage.stateless:
        doc.relayStateless(m.payload, this)
        this.conn.ctx.broadcastStateless?.(doc.key, m.payload)
        return
      case HpMessage.auth:
        this.refresh(m.token)
        return
      case HpMessage.close:
        this.end()
        this.conn.forget(this)
        return
    }
  }

  private sync(doc: LiveDoc, session: SyncSession, message: Uint8Array): void {
    const { type } = decodeYSyncMessage(message)
    const arrived = performance.now()
    let result: ReturnType<LiveDoc['receiveSync']>
    try {
      result = doc.receiveSync(session, message, this)
    } catch (err) {
      // A reader's changes, or a doc at its size limit: refused, the doc unchanged, the connection open.
      if (!(err instanceof MurmurError) || !DOC_REFUSALS.has(err.code)) throw err
      this.conn.ctx.metrics?.error(err.code)
      this.send({ type: HpMessage.syncStatus, applied: false })
      return
    }
    for (const reply of result.replies) this.send({ type: HpMessage.sync, message: reply })
    if (type === YSyncMessage.step1) {
      // Like Hocuspocus: every SyncStep1 is answered with SyncStep2 and our own SyncStep1, whose answer
      // brings what the provider holds and the server lacks (offline edits).
      for (const step1 of session.start()) this.send({ type: HpMessage.sync, message: step1 })
      return
    }
    const durable = result.durable
    durable.then(
      () => {
        this.conn.ctx.metrics?.acked((performance.now() - arrived) / 1000)
        if (this.stage === Stage.open) this.send({ type: HpMessage.syncStatus, applied: true })
      },
      () => {
        if (this.stage === Stage.open) this.send({ type: HpMessage.syncStatus, applied: false })
      },
    )
  }

  /**
   * A provider sends its token again when asked or when it changed: it replaces the connection's identity.
   * A token that changes the write right gets the new scope and a new sync session (as on `/sync`), which
   * starts over with the server's SyncStep1.
   */
  private refresh(token: string): void {
    const access = this.access as ConnectionAuth
    access.refresh(token).then(
      () => {
        if (this.stage !== Stage.open) return
        if (!access.can(EngineName.yjs, this.docId, 'read')) {
          this.refuse(new MurmurError(ErrorCode.FORBIDDEN, 'the new token does not allow reading this document'))
          return
        }
        const readOnly = !access.can(EngineName.yjs, this.docId, 'write')
        if (readOnly === this.readOnly) return
        this.readOnly = readOnly
        const session = (this.doc as LiveDoc).doc.createSyncSession({ readOnly })
        this.session = session
        this.send({ type: HpMessage.auth, sub: HpAuth.authenticated, scope: readOnly ? HpScope.readOnly : HpScope.readWrite })
        for (const step1 of session.start()) this.send({ type: HpMessage.sync, message: step1 })
      },
      (err: unknown) => this.refuse(err),
    )
  }

  deliverUpdate(update: Uint8Array): void {
    if (this.session === null) return
    for (const frame of updateFrames.framesFor(update, this.session, this.address, this.prefix)) this.conn.socket.send(frame)
  }

  deliverAwareness(update: Uint8Array): void {
    this.send({ type: HpMessage.awareness, update })
  }

  deliverStateless(payload: string): void {
    this.send({ type: HpMessage.stateless, payload })
  }

  /**
   * The doc can no longer be served. A deleted doc ends this document connection with a close message
   * (the provider stops); anything else (storage failed) closes the socket, so that the provider
   * reconnects and syncs every document again once the doc has reloaded.
   */
  fail(error: unknown): void {
    if (this.stage === Stage.closed) return
    if (error instanceof MurmurError && error.code === ErrorCode.DOC_DELETED) {
      this.send({ type: HpMessage.close, reason: `${error.code}: ${error.message}` })
      this.end()
      this.conn.forget(this)
      return
    }
    this.conn.socket.closeWith(error)
  }

  /** Release everything this document connection holds (no message is sent). */
  end(): void {
    if (this.stage === Stage.closed) return
    this.stage = Stage.closed
    this.dropQueue()
    this.access?.dispose()
    if (this.doc !== null) this.conn.ctx.registry.release(this.doc, this)
    this.doc = null
    this.session = null
  }
}
