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
  requireDocId,
  type PresencePolicy,
  isEngineName,
  type DocId,
  type Message,
  type MessageOf,
} from '@murmur/shared'
import { ConnectionAuth, principalOf, type TokenEnd } from '../auth/auth.js'
import { closeDoc, openDoc, toDoc } from '../docs/doc-client.js'
import type { DocKey } from '../storage/storage.js'
import type { SyncContext, SyncMetrics } from './context.js'
import type { ServerSocket, SocketHandler } from '../ws/socket.js'
import type { ClientUpgrade } from '../ws/upgrades.js'
import { Binding, type BindingOwner } from './murmur-binding.js'
import { handshakeDeadline } from './handshake-deadline.js'

/** Most docs one socket may have open at once. */
const MAX_OPEN_DOCS = 10_000

/** Frames that may wait while a token is checked; a client that sends more is flooding. */
const MAX_WAITING_FRAMES = 10_000

/** The keep-alive: the same bytes for every socket (a Buffer, which ws sends as it is). */
const KEEP_ALIVE_PING = Buffer.from(encodeMessage({ type: MessageType.ping, nonce: 0 }))

/**
 * A client of Murmur protocol v1 (`/sync`): hello/welcome, then any number of docs over the one socket,
 * each under its own ref; a doc's messages only ever reach that doc's binding.
 *
 * Auth: hello carries the token (or, when it carries none, the upgrade request's `upgradeToken`). Each
 * open needs read access, each write needs write access; a refused doc message gets an error for its ref
 * and the connection goes on. An `auth` message replaces the token on the live socket; when the token
 * expires the socket is closed with 4401.
 *
 * One object per socket, its methods shared: an idle connection holds its fields and its bindings,
 * nothing else (no closures, no timers).
 */
export class SyncConnection implements SocketHandler, BindingOwner {
  /** The docs open on this socket, by ref. Most sockets have one, which is held without a Map. */
  private first: Binding | null = null
  private more: Map<number, Binding> | null = null
  private welcomed = false
  private access: ConnectionAuth | null = null

  get principal(): string {
    return principalOf(this.access?.identity)
  }
  /** A token is being checked: frames wait, in order, in `waiting` until it is done. */
  private checking = false
  private waiting: Uint8Array[] | null = null
  private chunkId = 0
  /** Closes the socket unless hello is answered in time; null once it was. */
  private deadline: NodeJS.Timeout | null

  constructor(
    private readonly socket: ServerSocket,
    private readonly ctx: SyncContext,
    /** The upgrade request's token, used when hello carries none. */
    private upgradeToken = '',
  ) {
    socket.serve(this)
    this.deadline = handshakeDeadline(socket, ctx)
  }

  /** Send a message; large ones (a big doc's first sync) go out in chunks, so a ping never waits behind a whole one. */
  send(msg: Message): void {
    this.sendFrame(encodeMessage(msg))
  }

  /** Send an encoded message, in chunks if it is large. */
  sendFrame(frame: Uint8Array): void {
    if (frame.length <= CHUNK_BYTES) this.socket.send(frame)
    else for (const piece of chunkFrame(frame, ++this.chunkId)) this.socket.send(piece)
  }

  get presence(): PresencePolicy {
    return this.ctx.presence
  }

  get metrics(): SyncMetrics | null {
    return this.ctx.metrics
  }

  sendError(ref: number, error: MurmurError, updateId = ''): void {
    if (ref !== 0) this.ctx.metrics?.error(error.code)
    this.send({ type: MessageType.error, ref, code: error.code, message: error.message, updateId })
  }

  /** Tell the client why, then close with the matching code. */
  fatal(err: unknown): void {
    if (err instanceof MurmurError) this.sendError(0, err)
    this.socket.closeWith(err)
  }

  private binding(ref: number): Binding | undefined {
    return this.first !== null && this.first.ref === ref ? this.first : this.more?.get(ref)
  }

  private get bindingCount(): number {
    return (this.first !== null ? 1 : 0) + (this.more?.size ?? 0)
  }

  private bindings(): Binding[] {
    const all = this.more !== null ? [...this.more.values()] : []
    if (this.first !== null) all.unshift(this.first)
    return all
  }

  /** A binding that failed leaves without releasing its doc (the doc dropped it). */
  forget(b: Binding): void {
    if (this.first === b) this.first = null
    else if (this.more?.get(b.ref) === b) this.more.delete(b.ref)
  }

  receive(frame: Uint8Array): void {
    if (!this.checking) {
      this.handleFrame(frame)
      return
    }
    const waiting = (this.waiting ??= [])
    if (waiting.length >= MAX_WAITING_FRAMES) {
      this.fatal(new MurmurError(ErrorCode.RATE_LIMITED, 'too many messages while the token is checked'))
      return
    }
    waiting.push(frame)
  }

  /** A ping, which the client answers with a pong: it doubles as the liveness ping. */
  keepAlive(): boolean {
    this.socket.sendNow(KEEP_ALIVE_PING)
    return true
  }

  closed(): void {
    if (this.deadline !== null) clearTimeout(this.deadline)
    this.access?.dispose()
    for (const b of this.bindings()) this.close(b.ref)
  }

  private handleFrame(frame: Uint8Array): void {
    let msg: Message
    try {
      msg = decodeMessage(frame)
    } catch (err) {
      this.fatal(err)
      return
    }
    if (!this.welcomed) {
      this.hello(msg)
      return
    }
    try {
      switch (msg.type) {
        case MessageType.open:
          this.open(msg)
          return
        case MessageType.close:
          this.close(msg.ref)
          return
        case MessageType.sync:
        case MessageType.update:
        case MessageType.awareness: {
          const b = this.binding(msg.ref)
          if (b === undefined) {
            // A doc closed (or failed) a moment ago may still have messages in flight; say so, keep going.
            this.sendError(msg.ref, new MurmurError(ErrorCode.UNKNOWN_DOC_REF, `doc ref ${msg.ref} is not open`), msg.type === MessageType.update ? msg.id : '')
            return
          }
          toDoc(b, msg)
          return
        }
        case MessageType.ping:
          this.socket.sendNow(encodeMessage({ type: MessageType.pong, nonce: msg.nonce }))
          return
        case MessageType.pong:
          return
        case MessageType.auth:
          this.checkToken(msg.token)
          return
        default:
          throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `a client may not send message type ${msg.type}`)
      }
    } catch (err) {
      this.fatal(err)
    }
  }

  private hello(msg: Message): void {
    if (msg.type !== MessageType.hello || this.access !== null) {
      this.fatal(new MurmurError(ErrorCode.HANDSHAKE_REQUIRED, 'the first message must be hello'))
      return
    }
    if (msg.major !== PROTOCOL_MAJOR) {
      this.fatal(new MurmurError(ErrorCode.UNSUPPORTED_VERSION, `protocol ${msg.major}.x is not supported; this server speaks ${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`))
      return
    }
    const token = msg.token !== '' ? msg.token : this.upgradeToken
    this.upgradeToken = ''
    this.checkToken(token)
  }

  /**
   * Check a token (hello's or auth's), holding later frames until it is done. A valid one becomes the
   * connection's identity, watched for its expiry and revocation.
   */
  private checkToken(token: string): void {
    this.checking = true
    const first = this.access === null
    this.ctx.auth.authenticate(token).then(
      (identity) => {
        this.access?.dispose()
        const auth = new ConnectionAuth(this.ctx.auth, identity, (why) => this.tokenEnded(why))
        this.access = auth
        this.tokenChecked(auth, first)
      },
      (err: unknown) => {
        this.checking = false
        this.waiting = null
        this.fatal(err)
      },
    )
  }

  private tokenEnded(why: TokenEnd): void {
    this.fatal(new MurmurError(ErrorCode.UNAUTHORIZED, why === 'token expired' ? 'token expired; send a fresh one with auth before it expires' : why))
  }

  private tokenChecked(auth: ConnectionAuth, first: boolean): void {
    this.checking = false
    if (!this.socket.isOpen) {
      // Closed while the token was checked: the close handler may have run before `access` existed.
      auth.dispose()
      return
    }
    if (first) {
      if (this.deadline !== null) clearTimeout(this.deadline)
      this.deadline = null
      this.welcomed = true
      this.send({ type: MessageType.welcome, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, nodeId: this.ctx.nodeId })
    } else this.recheckBindings(auth)
    const waiting = this.waiting
    while (!this.checking && waiting !== null && waiting.length > 0 && this.socket.isOpen) this.handleFrame(waiting.shift() as Uint8Array)
    if (!this.checking) this.waiting = null
  }

  private open(msg: MessageOf<typeof MessageType.open>): void {
    if (this.binding(msg.ref) !== undefined) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `doc ref ${msg.ref} is already open`)
    if (!isEngineName(msg.engine)) throw new MurmurError(ErrorCode.UNKNOWN_ENGINE, `unknown engine ${msg.engine.slice(0, 40)}`)
    requireDocId(msg.docId)
    if (this.bindingCount >= MAX_OPEN_DOCS) throw new MurmurError(ErrorCode.RATE_LIMITED, `at most ${MAX_OPEN_DOCS} docs per socket`)
    const key: DocKey = { engine: msg.engine, docId: msg.docId as DocId }
    const auth = this.access as ConnectionAuth
    if (!auth.can(key.engine, key.docId, 'read')) {
      // The ref stays unused, so the client may try again (after a token refresh) under the same ref.
      this.sendError(msg.ref, new MurmurError(ErrorCode.FORBIDDEN, `the token does not allow reading ${key.engine}:${key.docId.slice(0, 80)}`))
      return
    }
    const b = new Binding(this, msg.ref, key, auth.can(key.engine, key.docId, 'write'))
    if (this.first === null) this.first = b
    else (this.more ??= new Map()).set(b.ref, b)
    openDoc(this.ctx.registry, key, b)
  }

  private close(ref: number): void {
    const b = this.binding(ref)
    if (b === undefined) return
    this.forget(b)
    closeDoc(this.ctx.registry, b)
  }

  /** After a token change: drop docs it no longer lets us read, switch sessions whose write right changed. */
  private recheckBindings(auth: ConnectionAuth): void {
    for (const b of this.bindings()) {
      if (!auth.can(b.key.engine, b.key.docId, 'read')) {
        this.sendError(b.ref, new MurmurError(ErrorCode.FORBIDDEN, `the new token does not allow reading ${b.key.engine}:${b.key.docId.slice(0, 80)}; closed`))
        this.close(b.ref)
        continue
      }
      const canWrite = auth.can(b.key.engine, b.key.docId, 'write')
      if (canWrite === b.canWrite) continue
      b.canWrite = canWrite
      if (b.doc === null || b.session === null) continue
      // A session's read-only flag is fixed, so a new one replaces it; it starts over with the client.
      b.session = b.doc.doc.createSyncSession({ readOnly: !canWrite })
      for (const payload of b.session.start()) this.send({ type: MessageType.sync, ref: b.ref, payload })
    }
  }
}

/** `/sync`: accepted at once; the token comes with hello (or, if hello has none, with the upgrade). */
export function serveSync(upgrade: ClientUpgrade, ctx: SyncContext): void {
  upgrade.accept((socket) => new SyncConnection(socket, ctx, upgrade.token))
}
