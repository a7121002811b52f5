import { EventEmitter } from 'node:events'
import type { NodeId } from '@murmur/shared'
import type { Logger } from '../logger.js'
import type { DocKey, StoredVersion, VersionStore } from '../storage/storage.js'
import { PeerMessageType, type DocRef, type PeerMessage } from './peer-protocol.js'

/** What version replication needs of the cluster. */
export interface VersionReplicationDeps {
  readonly self: NodeId
  /** The nodes that replicate the doc (this one may be among them). */
  replicasOf(doc: DocKey): readonly NodeId[]
  /** Send on the link to `peer`; false when it is down (the message is kept and sent when it is back). */
  send(peer: NodeId, msg: PeerMessage): boolean
  readonly storage: Pick<VersionStore, 'putVersion' | 'deleteVersion'>
  readonly log: Logger
}

type VersionMessage = Extract<PeerMessage, { type: typeof PeerMessageType.versionPut | typeof PeerMessageType.versionDelete }>

/** Above this many waiting messages for one peer, the oldest are dropped (a long-gone peer). */
const MAX_PENDING = 10_000

/**
 * Versions are replicated like the doc: a version made (or deleted) on one node is pushed to the doc's
 * replicas; a replica whose link is down gets it when the link is back. Storing is idempotent by id,
 * so a version that arrives twice is stored once.
 */
export class VersionReplication extends EventEmitter<{ applied: [DocKey, string] }> {
  private readonly pending = new Map<NodeId, VersionMessage[]>()

  constructor(private readonly deps: VersionReplicationDeps) {
    super()
  }

  stored(doc: DocKey, version: StoredVersion): void {
    this.push(doc, { type: PeerMessageType.versionPut, doc: ref(doc), version })
  }

  removed(doc: DocKey, id: string): void {
    this.push(doc, { type: PeerMessageType.versionDelete, doc: ref(doc), id })
  }

  /** The link to `peer` is up: send what waited for it. */
  linkUp(peer: NodeId): void {
    const waiting = this.pending.get(peer)
    if (waiting === undefined) return
    this.pending.delete(peer)
    for (const msg of waiting) this.sendOrKeep(peer, msg)
  }

  /** A version message from a peer: store or delete it here, without pushing it on; `applied` once done. */
  receive(msg: VersionMessage): void {
    const done =
      msg.type === PeerMessageType.versionPut ? this.deps.storage.putVersion(msg.doc, msg.version) : this.deps.storage.deleteVersion(msg.doc, msg.id)
    const id = msg.type === PeerMessageType.versionPut ? msg.version.id : msg.id
    done.then(
      () => this.emit('applied', msg.doc, id),
      (err: unknown) => this.deps.log.warn({ err, doc: msg.doc.docId }, 'could not store a replicated version change'),
    )
  }

  private push(doc: DocKey, msg: VersionMessage): void {
    for (const peer of this.deps.replicasOf(doc)) if (peer !== this.deps.self) this.sendOrKeep(peer, msg)
  }

  private sendOrKeep(peer: NodeId, msg: VersionMessage): void {
    if (this.deps.send(peer, msg)) return
    let waiting = this.pending.get(peer)
    if (waiting === undefined) this.pending.set(peer, (waiting = []))
    waiting.push(msg)
    if (waiting.length > MAX_PENDING) waiting.shift()
  }
}

function ref(doc: DocKey): DocRef {
  return { engine: doc.engine, docId: doc.docId }
}
