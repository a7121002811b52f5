import { EventEmitter } from 'node:events'
import { isDocId, isEngineName, type NodeId } from '@murmur/shared'
import type { Logger } from '../logger.js'
import type { DocKey, StoredVersion, Tombstones, VersionStore } from '../storage/storage.js'
import { PeerMessageType, type DocRef, type PeerMessage } from './peer-protocol.js'
import { docKeyString } from './replication.js'
import { VersionIds } from './version-ids.js'

/** What version replication needs of the cluster. */
export interface VersionReplicationDeps {
  readonly self: NodeId
  /** The nodes that replicate the doc (this one may be among them). */
  replicasOf(doc: DocKey): readonly NodeId[]
  /** Partitions this node and `peer` both replicate. */
  sharedPartitions(peer: NodeId): number[]
  /** Send on the link to `peer`; false when it is down (the message is kept and sent when it is back). */
  send(peer: NodeId, msg: PeerMessage): boolean
  readonly storage: Pick<VersionStore, 'putVersion' | 'deleteVersion' | 'version' | 'versionIds'> & Pick<Tombstones, 'tombstoneOf'>
  readonly log: Logger
}

type VersionMessage = Extract<PeerMessage, { type: typeof PeerMessageType.versionPut | typeof PeerMessageType.versionDelete }>
type VersionSyncMessage = Extract<PeerMessage, { type: typeof PeerMessageType.versionDigests | typeof PeerMessageType.versionIds }>

/** Above this many waiting messages for one peer, the oldest are dropped (a long-gone peer). */
const MAX_PENDING = 10_000

/**
 * Versions are replicated like the doc: a version made (or deleted) on one node is pushed to the doc's
 * replicas; a replica whose link is down gets it when the link is back. Storing is idempotent by id,
 * so a version that arrives twice is stored once, and a deleted one leaves a tombstone, so it does not
 * come back. What a push cannot cover (a replica down while this node restarted, a queue overflow) the
 * version anti-entropy does: at every anti-entropy round and whenever a link comes up, the two nodes
 * compare a digest of the version ids per shared partition, then per doc in the partitions that differ,
 * and for a doc that differs exchange the ids and push each other the versions and deletes the other
 * lacks. When both hold the same, a round costs one message of at most 256 digests.
 */
export class VersionReplication extends EventEmitter<{ applied: [DocKey, string] }> {
  private readonly pending = new Map<NodeId, VersionMessage[]>()
  private readonly ids = new VersionIds()
  private ready = false

  constructor(private readonly deps: VersionReplicationDeps) {
    super()
  }

  /** Read every stored version id; anti-entropy waits for it. */
  async start(): Promise<void> {
    this.ids.load(await this.deps.storage.versionIds())
    this.ready = true
  }

  stored(doc: DocKey, version: StoredVersion): void {
    this.ids.put(doc, version.id)
    this.push(doc, { type: PeerMessageType.versionPut, doc: ref(doc), version })
  }

  removed(doc: DocKey, id: string): void {
    this.ids.delete(doc, id)
    this.push(doc, { type: PeerMessageType.versionDelete, doc: ref(doc), id })
  }

  /** The link to `peer` is up: send what waited for it, then compare versions. */
  linkUp(peer: NodeId): void {
    const waiting = this.pending.get(peer)
    this.pending.delete(peer)
    for (const msg of waiting ?? []) this.sendOrKeep(peer, msg)
    this.compare(peer)
  }

  /** Start a version anti-entropy exchange with `peer`: a digest per partition both replicate. */
  compare(peer: NodeId): void {
    if (!this.ready) return
    const digests = this.ids.partitionDigests(this.deps.sharedPartitions(peer))
    this.deps.send(peer, { type: PeerMessageType.versionDigests, step: 1, partitions: Uint16Array.from(digests.keys()), digests: [...digests.values()], docs: [] })
  }

  /**
   * A version message from a peer: store or delete it here, without pushing it on; `applied` once done.
   * Resolves once the message is handled (a failure is logged here, never thrown).
   */
  receive(peer: NodeId, msg: VersionMessage | VersionSyncMessage): Promise<void> {
    if (msg.type === PeerMessageType.versionDigests) {
      this.onDigests(peer, msg)
      return Promise.resolve()
    }
    if (msg.type === PeerMessageType.versionIds) return this.onIds(peer, msg).catch((err: unknown) => this.warn(err, msg.doc, 'could not compare versions with a peer'))
    const id = msg.type === PeerMessageType.versionPut ? msg.version.id : msg.id
    return this.apply(msg).then(
      () => {
        this.emit('applied', msg.doc, id)
      },
      (err: unknown) => this.warn(err, msg.doc, 'could not store a replicated version change'),
    )
  }

  private async apply(msg: VersionMessage): Promise<void> {
    if (msg.type === PeerMessageType.versionPut) {
      await this.deps.storage.putVersion(msg.doc, msg.version)
      this.ids.put(msg.doc, msg.version.id)
    } else {
      await this.deps.storage.deleteVersion(msg.doc, msg.id)
      this.ids.delete(msg.doc, msg.id)
    }
  }

  /**
   * Step 1 (the peer's digest per partition): answer with the digests of our docs in the partitions that
   * differ. Step 2 (that answer): for every doc in them whose digest differs, send the peer our ids.
   */
  private onDigests(peer: NodeId, msg: Extract<VersionSyncMessage, { type: typeof PeerMessageType.versionDigests }>): void {
    if (!this.ready) return
    const shared = new Set(this.deps.sharedPartitions(peer))
    if (msg.step === 1) {
      const theirs = new Map([...msg.partitions].map((p, i) => [p, msg.digests[i] ?? '']))
      const mine = this.ids.partitionDigests([...shared])
      const differing = [...shared].filter((p) => (mine.get(p) ?? '') !== (theirs.get(p) ?? ''))
      if (differing.length === 0) return
      const docs = [...this.ids.inPartitions(differing)].map(([key, doc]) => ({ key, version: this.ids.digest(doc) }))
      this.deps.send(peer, { type: PeerMessageType.versionDigests, step: 2, partitions: Uint16Array.from(differing), digests: [], docs })
      return
    }
    const mine = this.ids.inPartitions([...msg.partitions].filter((p) => shared.has(p)))
    const theirs = new Map(msg.docs.map((d) => [d.key, d.version]))
    for (const [key, doc] of mine) {
      if (theirs.get(key) !== this.ids.digest(doc)) this.sendIds(peer, doc.key, false)
    }
    // Docs only the peer has version ids of (and that this node replicates): an empty list asks for them.
    for (const key of theirs.keys()) {
      if (mine.has(key)) continue
      const doc = parseRef(key)
      if (doc !== null && this.deps.replicasOf(doc).includes(this.deps.self)) this.sendIds(peer, doc, false)
    }
  }

  /** The peer's ids of one doc: push what it lacks, take its deletes, and answer with ours if it lacks any. */
  private async onIds(peer: NodeId, msg: Extract<VersionSyncMessage, { type: typeof PeerMessageType.versionIds }>): Promise<void> {
    if (!this.ready || !this.deps.replicasOf(msg.doc).includes(this.deps.self)) return
    // A deleted doc's versions went with it.
    if ((await this.deps.storage.tombstoneOf(msg.doc)) !== null) return
    const theirLive = new Set(msg.live)
    const theirDeleted = new Set(msg.deleted)
    for (const id of theirDeleted) {
      if (this.ids.get(docKeyString(msg.doc))?.deleted.has(id) !== true) await this.apply({ type: PeerMessageType.versionDelete, doc: msg.doc, id })
    }
    const mine = this.ids.get(docKeyString(msg.doc))
    let theyHaveMore = false
    for (const id of theirLive) if (mine?.live.has(id) !== true && mine?.deleted.has(id) !== true) theyHaveMore = true
    for (const id of mine?.deleted ?? []) {
      if (!theirDeleted.has(id)) this.deps.send(peer, { type: PeerMessageType.versionDelete, doc: msg.doc, id })
    }
    for (const id of mine?.live ?? []) {
      if (theirLive.has(id) || theirDeleted.has(id)) continue
      const version = await this.deps.storage.version(msg.doc, id)
      if (version !== null) this.deps.send(peer, { type: PeerMessageType.versionPut, doc: msg.doc, version })
    }
    if (theyHaveMore && !msg.answer) this.sendIds(peer, msg.doc, true)
  }

  private sendIds(peer: NodeId, doc: DocRef, answer: boolean): void {
    const mine = this.ids.get(docKeyString(doc))
    this.deps.send(peer, { type: PeerMessageType.versionIds, doc, live: [...(mine?.live ?? [])], deleted: [...(mine?.deleted ?? [])], answer })
  }

  private warn(err: unknown, doc: DocRef, what: string): void {
    this.deps.log.warn({ err, doc: doc.docId }, what)
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

/** A doc key string from a peer, checked like a doc ref on the wire; null when it is not one. */
function parseRef(key: string): DocRef | null {
  const i = key.indexOf(':')
  const engine = key.slice(0, i)
  const docId = key.slice(i + 1)
  return i > 0 && isEngineName(engine) && isDocId(docId) ? { engine, docId } : null
}
