import {
  EngineName,
  ErrorCode,
  MurmurError,
  getEngine,
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
import { handshakeDeadline } from './handshake-deadline.js'
import {
  REPO_PROTOCOL_VERSION,
  RepoMessageType,
  decodeRepoMessage,
  encodeRepoMessage,
  type EphemeralMessage,
  type FromClientMessage,
  type FromServerMessage,
  type PeerMetadata,
} from './automerge-repo-messages.js'

/** Most docs one socket may sync at once. */
const MAX_OPEN_DOCS = 10_000

let emptyVersion: string | null = null

/** True while the doc holds no change at all: it was never stored (nor received) anywhere we know of. */
function isEmptyDoc(doc: LiveDoc): boolean {
  // Equal states have equal versions, so only a doc without changes has the version of a new one.
  emptyVersion ??= getEngine(EngineName.automerge).create().version()
  return doc.doc.version() === emptyVersion
}

/** This node as an automerge-repo peer: the same strings and object for every socket. */
let self: { readonly nodeId: string; readonly peerId: string; readonly metadata: PeerMetadata } | null = null

function selfPeer(nodeId: string): { readonly peerId: string; readonly metadata: PeerMetadata } {
  if (self === null || self.nodeId !== nodeId) {
    const peerId = `murmur:${nodeId}`
    self = { nodeId, peerId, metadata: { storageId: peerId, isEphemeral: false } }
  }
  return self
}

/**
 * One automerge-repo document synced over one socket: the Murmur Automerge doc whose id is the
 * automerge-repo documentId. Messages that arrive while it loads wait in `queued` (`DocClient`).
 */
class RepoDocPeer implements DocClient<FromClientMessage> {
  doc: LiveDoc | null = null
  session: SyncSession | null = null
  queued: FromClientMessage[] | null = null
  released = false
  /** This socket introduced presence (ephemeral messages) on this doc under its peer id. */
  presenceOwner = false

  constructor(
    readonly documentId: DocId,
    private readonly conn: RepoConnection,
  ) {}

  deliverUpdate(update: Uint8Array): void {
    if (this.session !== null) this.conn.sendSync(this, this.session.onDocUpdate(update))
  }

  deliverAwareness(): void {
    // Presence of Murmur SDK and y-websocket clients is y-protocols awareness, which automerge-repo
    // peers cannot read; they exchange their own ephemeral messages (relayed by `deliverEphemeral`).
  }

  /** The peer id this doc's presence from this socket is sent as, once it sent any. */
  get presenceId(): string | null {
    return this.presenceOwner ? this.conn.remotePeerId : null
  }

  /** An ephemeral message from another automerge-repo peer of this doc. */
  sendEphemeral(msg: EphemeralMessage): void {
    const target = this.conn.remotePeerId
    if (target !== null) this.conn.send({ ...msg, targetId: target })
  }

  /** An ephemeral message relayed by another node: the encoded message, which must speak as `sender` of this doc. */
  deliverEphemeral(sender: string, payload: Uint8Array): void {
    let msg: FromClientMessage
    try {
      msg = decodeRepoMessage(payload)
    } catch {
      return
    }
    if (msg.type === RepoMessageType.ephemeral && msg.senderId === sender && msg.documentId === this.documentId) this.sendEphemeral(msg)
  }

  fail(error: MurmurError): void {
    // automerge-repo has no per-doc error: the client reconnects, and the doc is loaded again.
    this.conn.fatal(error)
  }

  opened(doc: LiveDoc): void {
    this.session = doc.doc.createSyncSession({ readOnly: !this.conn.canWrite(this.documentId) })
  }

  handle(msg: FromClientMessage): void {
    this.conn.handleDocMessage(this, msg)
  }

  loadFailed(err: unknown): void {
    this.conn.fatal(err)
  }

  broke(err: unknown): void {
    this.conn.fatal(err)
  }
}

/**
 * An unmodified automerge-repo client (`WebSocketClientAdapter`) on `/automerge`: protocol "1", CBOR
 * messages. This node is a peer that keeps docs (`isEphemeral: false`); each documentId is the id of a
 * Murmur Automerge doc, synced with one Automerge sync session per (doc, socket).
 *
 * What the client is told about this node's heads (every sync message carries them) is only sent once
 * the changes behind them are durable, so a client that trusts "the server has it" is never wrong.
 *
 * `access` is the identity of the upgrade request's token. A documentId the token may not read closes
 * the socket with 4403 (automerge-repo has no per-doc refusal); without write access the doc's sync
 * session is read-only, and a sync message with changes closes the socket with 4403, the doc unchanged.
 */
export class RepoConnection implements SocketHandler {
  /** The client's peer id, once it joined. */
  remotePeerId: string | null = null
  private docs: Map<string, RepoDocPeer> | null = null
  /** Closes the socket unless it joins in time; null once it did. */
  private deadline: NodeJS.Timeout | null

  constructor(
    private readonly socket: ServerSocket,
    private readonly ctx: SyncContext,
    private readonly access: ConnectionAuth,
  ) {
    socket.serve(this)
    this.deadline = handshakeDeadline(socket, ctx)
  }

  private get selfId(): string {
    return selfPeer(this.ctx.nodeId).peerId
  }

  send(msg: FromServerMessage): void {
    this.socket.send(encodeRepoMessage(msg))
  }

  /** Send sync messages for a doc once every write before them is durable, in order. */
  sendSync(peer: RepoDocPeer, payloads: readonly Uint8Array[]): void {
    if (payloads.length === 0 || peer.doc === null) return
    const send = (): void => {
      if (peer.released) return
      const senderId = this.selfId
      const targetId = this.remotePeerId ?? ''
      for (const data of payloads) this.send({ type: RepoMessageType.sync, senderId, targetId, documentId: peer.documentId, data })
    }
    // A failed write fails the doc, which closes this socket.
    peer.doc.whenDurable().then(send, () => undefined)
  }

  fatal(err: unknown): void {
    const error = err instanceof MurmurError ? err : new MurmurError(ErrorCode.INTERNAL, 'internal error', { cause: err })
    this.send({ type: RepoMessageType.error, senderId: this.selfId, message: `${error.code}: ${error.message}`, targetId: this.remotePeerId ?? '' })
    this.socket.closeWith(err)
  }

  receive(frame: Uint8Array): void {
    let msg: FromClientMessage
    try {
      msg = decodeRepoMessage(frame)
    } catch (err) {
      this.fatal(err)
      return
    }
    try {
      if (msg.type === RepoMessageType.join) {
        this.join(msg.senderId, msg.supportedProtocolVersions)
        return
      }
      if (this.remotePeerId === null) throw new MurmurError(ErrorCode.HANDSHAKE_REQUIRED, 'the first message must be join')
      switch (msg.type) {
        case RepoMessageType.request:
        case RepoMessageType.sync:
        case RepoMessageType.ephemeral:
          toDoc(this.peerFor(msg.documentId), msg)
          return
        case RepoMessageType.error:
          // The client is about to close; nothing of ours is wrong.
          this.socket.close()
          return
        case RepoMessageType.docUnavailable:
        case RepoMessageType.remoteSubscriptionChange:
        case RepoMessageType.remoteHeadsChanged:
          // The server never asks clients for docs, and takes no part in remote-heads gossip.
          return
      }
    } catch (err) {
      this.fatal(err)
    }
  }

  closed(): void {
    if (this.deadline !== null) clearTimeout(this.deadline)
    this.access.dispose()
    if (this.docs === null) return
    for (const peer of this.docs.values()) closeDoc(this.ctx.registry, peer)
    this.docs = null
  }

  private join(senderId: string, versions: readonly string[] | undefined): void {
    if (this.remotePeerId !== null && this.remotePeerId !== senderId) {
      throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, 'a socket joins as one peer only')
    }
    if (versions !== undefined && !versions.includes(REPO_PROTOCOL_VERSION)) {
      throw new MurmurError(ErrorCode.UNSUPPORTED_VERSION, `unsupported protocol version; this server speaks "${REPO_PROTOCOL_VERSION}"`)
    }
    this.remotePeerId = senderId
    if (this.deadline !== null) clearTimeout(this.deadline)
    this.deadline = null
    const me = selfPeer(this.ctx.nodeId)
    this.send({ type: RepoMessageType.peer, senderId: me.peerId, peerMetadata: me.metadata, selectedProtocolVersion: REPO_PROTOCOL_VERSION, targetId: senderId })
  }

  canWrite(documentId: DocId): boolean {
    return this.access.can(EngineName.automerge, documentId, 'write')
  }

  /** A message for a loaded doc. */
  handleDocMessage(peer: RepoDocPeer, msg: FromClientMessage): void {
    const doc = peer.doc as LiveDoc
    const session = peer.session as SyncSession
    switch (msg.type) {
      case RepoMessageType.request:
      case RepoMessageType.sync: {
        // A request for a doc nobody ever wrote is answered as automerge-repo's own peers answer it; the
        // doc is not created. The socket stays subscribed, so if the doc appears later it is synced.
        const unavailable = msg.type === RepoMessageType.request && isEmptyDoc(doc)
        const { replies, durable } = doc.receiveSync(session, msg.data, peer, principalOf(this.access.identity))
        durable.catch(() => undefined) // a storage failure fails the doc and closes its sockets
        if (unavailable && isEmptyDoc(doc)) {
          this.send({ type: RepoMessageType.docUnavailable, senderId: this.selfId, targetId: this.remotePeerId ?? '', documentId: peer.documentId })
          return
        }
        this.sendSync(peer, replies)
        return
      }
      case RepoMessageType.ephemeral:
        if (!this.ownsPresence(peer, doc, msg.senderId)) return
        for (const other of doc.subscribers) if (other instanceof RepoDocPeer && other !== peer) other.sendEphemeral(msg)
        doc.announceEphemeral(msg.senderId, encodeRepoMessage(msg))
        return
      default:
        return
    }
  }

  /**
   * Presence belongs to the socket that introduced it: a socket speaks only as the peer it joined as, and
   * not while another socket of the doc (on this node or another) already speaks as that peer. Other
   * messages are dropped.
   */
  private ownsPresence(peer: RepoDocPeer, doc: LiveDoc, senderId: string): boolean {
    if (senderId !== this.remotePeerId) return false
    if (peer.presenceOwner) return true
    if (doc.spokenElsewhere(senderId)) return false
    for (const other of doc.subscribers) if (other instanceof RepoDocPeer && other !== peer && other.presenceId === senderId) return false
    peer.presenceOwner = true
    return true
  }

  private peerFor(id: string): RepoDocPeer {
    const docs = (this.docs ??= new Map())
    const existing = docs.get(id)
    if (existing !== undefined) return existing
    const documentId = requireDocId(id)
    if (docs.size >= MAX_OPEN_DOCS) throw new MurmurError(ErrorCode.RATE_LIMITED, `at most ${MAX_OPEN_DOCS} docs per socket`)
    this.access.require(EngineName.automerge, documentId, 'read')
    const peer = new RepoDocPeer(documentId, this)
    docs.set(documentId, peer)
    openDoc(this.ctx.registry, { engine: EngineName.automerge, docId: documentId }, peer)
    return peer
  }
}

/** `/automerge`: the token comes with the upgrade and is checked before the socket is accepted. */
export function serveAutomergeRepo(upgrade: ClientUpgrade, ctx: SyncContext): void {
  upgrade.acceptAuthenticated((socket, access) => new RepoConnection(socket, ctx, access))
}
