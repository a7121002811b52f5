import { ErrorCode, MessageType, MurmurError, PresenceQuota, encodeMessage, type Message, type MessageOf, type PresencePolicy, type SyncSession } from '@murmur/shared'
import type { DocClient } from '../docs/doc-client.js'
import type { LiveDoc } from '../docs/live-doc.js'
import type { DocKey } from '../storage/storage.js'
import { BroadcastFrames, sharesUpdateMessages } from './broadcast.js'
import type { SyncMetrics } from './context.js'

/** Errors that refuse one doc's message without ending the connection (other docs share the socket). */
const DOC_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.FORBIDDEN, ErrorCode.DOC_TOO_LARGE, ErrorCode.DOC_DELETED])

function isDocRefusal(err: unknown): err is MurmurError {
  return err instanceof MurmurError && DOC_REFUSALS.has(err.code)
}

/**
 * What an update's `replicas` of 0 or 1 asks: this node's fsync, and in a cluster at least one replica,
 * which is this node when it replicates the doc (its own fsync alone would otherwise leave the only copy
 * where anti-entropy never looks).
 */
const AT_LEAST_ONE_REPLICA = { replicas: 1 } as const

/** Fanned-out doc updates, encoded once per update and ref for every `/sync` socket. */
const updateFrames = new BroadcastFrames((payload, ref) => encodeMessage({ type: MessageType.sync, ref, payload }))

/** What a binding needs from its `/sync` connection (`SyncConnection`). */
export interface BindingOwner {
  readonly metrics: SyncMetrics | null
  /** The node's presence limits, for this socket's `PresenceQuota` on each doc. */
  readonly presence: PresencePolicy
  /** Who the connection's token stands for; its writes are attributed to it. */
  readonly principal: string
  send(msg: Message): void
  /** Send an encoded message (in chunks if it is large). */
  sendFrame(frame: Uint8Array): void
  /** A per-doc error for `ref` (the connection goes on). */
  sendError(ref: number, error: MurmurError, updateId?: string): void
  /** Tell the client why, then close the socket. */
  fatal(err: unknown): void
  /** The binding left without releasing its doc (the doc dropped it, or its load failed). */
  forget(b: Binding): void
}

function flushAcks(b: Binding): void {
  b.flushAcks()
}

/**
 * One doc open on a `/sync` socket, and that socket's subscriber to the doc. Messages for it wait in
 * `queued` until its load finished (`DocClient`).
 */
export class Binding implements DocClient<Message> {
  doc: LiveDoc | null = null
  session: SyncSession | null = null
  queued: Message[] | null = null
  released = false
  /** Acked update ids not yet sent, batched per turn of the event loop (null: none). */
  private pendingAcks: string[] | null = null
  /** The presence this socket holds on this doc (made at its first awareness update). */
  private presence: PresenceQuota | null = null

  constructor(
    readonly conn: BindingOwner,
    readonly ref: number,
    /** The doc's key; once loaded, the registry's own (so each socket does not keep a copy of the id). */
    public key: DocKey,
    /** The token allows writes to this doc; otherwise its sync session is read-only and updates are refused. */
    public canWrite: boolean,
  ) {}

  deliverUpdate(update: Uint8Array): void {
    const session = this.session
    if (session === null) return
    if (sharesUpdateMessages(this.key.engine)) {
      for (const frame of updateFrames.framesFor(update, session, this.ref)) this.conn.sendFrame(frame)
      return
    }
    for (const payload of session.onDocUpdate(update)) this.conn.send({ type: MessageType.sync, ref: this.ref, payload })
  }

  deliverAwareness(payload: Uint8Array): void {
    this.conn.send({ type: MessageType.awareness, ref: this.ref, payload })
  }

  fail(error: MurmurError): void {
    this.conn.sendError(this.ref, error)
    this.released = true
    this.conn.forget(this)
  }

  /** The doc has loaded: its session starts (its queued messages follow). */
  opened(doc: LiveDoc): void {
    this.key = doc.key
    this.session = doc.doc.createSyncSession({ readOnly: !this.canWrite })
    for (const payload of this.session.start()) this.conn.send({ type: MessageType.sync, ref: this.ref, payload })
    const all = doc.awareness.encodeAll()
    if (all !== null) this.conn.send({ type: MessageType.awareness, ref: this.ref, payload: all })
  }

  /** A message for the loaded doc. */
  handle(msg: Message): void {
    const doc = this.doc as LiveDoc
    const session = this.session as SyncSession
    switch (msg.type) {
      case MessageType.sync: {
        let result: ReturnType<LiveDoc['receiveSync']>
        try {
          result = doc.receiveSync(session, msg.payload, this, this.conn.principal)
        } catch (err) {
          // A reader's changes (read-only session), or a doc at its size limit: refused, the doc unchanged.
          if (!isDocRefusal(err)) throw err
          this.conn.sendError(this.ref, err)
          return
        }
        const { replies, durable } = result
        durable.catch(() => undefined) // a storage failure fails the doc, which tells its subscribers
        for (const payload of replies) this.conn.send({ type: MessageType.sync, ref: this.ref, payload })
        return
      }
      case MessageType.update:
        this.update(doc, session, msg)
        return
      case MessageType.awareness:
        doc.relayAwareness(msg.payload, this, (this.presence ??= new PresenceQuota(this.conn.presence)))
        return
      default:
        return
    }
  }

  private update(doc: LiveDoc, session: SyncSession, msg: MessageOf<typeof MessageType.update>): void {
    const { id, payload, replicas } = msg
    const arrived = performance.now()
    if (!this.canWrite) {
      this.conn.sendError(this.ref, new MurmurError(ErrorCode.FORBIDDEN, 'read-only: the token does not allow writes to this doc'), id)
      return
    }
    let durable: Promise<void>
    try {
      durable = doc.apply(payload, { from: this, durability: replicas > 1 ? { replicas } : AT_LEAST_ONE_REPLICA, by: this.conn.principal, via: 'sync' })
    } catch (err) {
      if (!isDocRefusal(err)) throw err
      this.conn.sendError(this.ref, err, id)
      return
    }
    session.peerHas?.(payload)
    durable.then(
      () => {
        this.conn.metrics?.acked((performance.now() - arrived) / 1000)
        this.ack(id)
      },
      (err: unknown) => {
        if (!this.released) this.conn.sendError(this.ref, err instanceof MurmurError ? err : new MurmurError(ErrorCode.STORAGE_FAILED, 'not durable'), id)
      },
    )
  }


  loadFailed(err: unknown): void {
    // The doc is not served at all rather than served empty; other docs on this socket go on.
    this.released = true
    this.conn.forget(this)
    this.conn.sendError(this.ref, err instanceof MurmurError ? err : new MurmurError(ErrorCode.LOAD_FAILED, 'load failed'))
  }

  broke(err: unknown): void {
    this.conn.fatal(err)
  }

  /** `id` is durable: acknowledge it with the others of this turn. */
  ack(id: string): void {
    if (this.pendingAcks === null) {
      this.pendingAcks = []
      setImmediate(flushAcks, this)
    }
    this.pendingAcks.push(id)
  }

  flushAcks(): void {
    const ids = this.pendingAcks
    this.pendingAcks = null
    if (ids === null || this.released) return
    this.conn.send({ type: MessageType.ack, ref: this.ref, ids })
  }
}

