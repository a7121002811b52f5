import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError, isEngineName, isDocId, type DocId, type EngineName, type VersionKind } from '@murmur/shared'
import { parseEntry, type RevocationEntry } from '../auth/revocations.js'
import type { SwimMessage } from './membership-api.js'

/**
 * The cluster protocol spoken on `/peer` between nodes. Binary, lib0 encoding, one message per frame.
 * Membership messages travel as JSON inside `swim`; everything on the data path is binary.
 */
export const PeerMessageType = {
  hello: 1,
  swim: 2,
  docUpdate: 3,
  docAck: 4,
  docSync: 5,
  interest: 6,
  aeTop: 7,
  aeLeaves: 8,
  aeDocs: 9,
  aeDone: 10,
  docDelete: 11,
  docStateless: 12,
  versionPut: 13,
  versionDelete: 14,
  revocations: 15,
  /** A piece of a larger message's frame (`chunks.ts`); numbered apart from the others, which grow from 1. */
  chunk: 32,
  presenceWatch: 20,
  presence: 21,
  ephemeral: 22,
  versionDigests: 23,
  versionIds: 24,
} as const
export type PeerMessageType = (typeof PeerMessageType)[keyof typeof PeerMessageType]

export interface DocRef {
  readonly engine: EngineName
  readonly docId: DocId
}

/** A stored version as it crosses a peer link (the fields of `StoredVersion`). */
export interface PeerVersion {
  readonly id: string
  readonly name: string | null
  readonly kind: VersionKind
  readonly principal: string
  readonly at: number
  readonly seq: number
  readonly state: Uint8Array
}

/** A doc and its version hash (first 8 bytes of the version digest, hex). */
export interface DocVersion {
  readonly key: string
  readonly version: string
}

export type PeerMessage =
  /**
   * First message on a link, from each side: who I am. `boot` is random per process and `store` per data
   * dir (node-id.ts): a second live process under an id has another boot, and a restarted one the same store.
   * The side that accepted the link sends its hello only once it admitted the dialer's.
   */
  | { readonly type: typeof PeerMessageType.hello; readonly id: string; readonly url: string; readonly boot: string; readonly store: string }
  | { readonly type: typeof PeerMessageType.swim; readonly msg: SwimMessage }
  /** Push of one update; `reqId` > 0 asks for a docAck once it is durable on the receiver. */
  | {
      readonly type: typeof PeerMessageType.docUpdate
      readonly doc: DocRef
      readonly reqId: number
      readonly update: Uint8Array
      /** The W3C `traceparent` of the push when tracing is on; absent (and not on the wire) otherwise. */
      readonly trace?: string
    }
  | { readonly type: typeof PeerMessageType.docAck; readonly reqId: number; readonly ok: boolean }
  /**
   * An engine sync message of the per-(doc, peer) sync session. `fresh` marks the first message of a new
   * session: the receiver drops whatever session it had with the sender for this doc and starts anew, so
   * that neither side keeps a sync state that believes in messages the other never got.
   */
  | { readonly type: typeof PeerMessageType.docSync; readonly doc: DocRef; readonly payload: Uint8Array; readonly fresh: boolean }
  /** The sender has clients on this doc (on) or no longer (off): push its updates to the sender. */
  | { readonly type: typeof PeerMessageType.interest; readonly doc: DocRef; readonly on: boolean }
  /** Anti-entropy step 1: digests of the partitions both sides replicate. */
  | { readonly type: typeof PeerMessageType.aeTop; readonly round: number; readonly partitions: Uint16Array; readonly digests: Uint8Array }
  /** Step 2: leaf digests (256 × 8 bytes each) of the partitions whose digests differ. */
  | { readonly type: typeof PeerMessageType.aeLeaves; readonly round: number; readonly partitions: Uint16Array; readonly leaves: Uint8Array }
  /** Step 3: the initiator's docs and versions in the leaves that differ. */
  | { readonly type: typeof PeerMessageType.aeDocs; readonly round: number; readonly leaves: Uint32Array; readonly docs: DocVersion[] }
  /** The doc was deleted (HTTP API): every node replaces it with a tombstone. */
  | { readonly type: typeof PeerMessageType.docDelete; readonly doc: DocRef; readonly deletedAt: number }
  /** A stateless message (Hocuspocus) for the doc's clients on the receiver; nothing is stored. */
  | { readonly type: typeof PeerMessageType.docStateless; readonly doc: DocRef; readonly payload: string }
  /** A version of the doc was made (or is re-sent): the replicas store it, once per id. */
  | { readonly type: typeof PeerMessageType.versionPut; readonly doc: DocRef; readonly version: PeerVersion }
  /** A version of the doc was deleted. */
  | { readonly type: typeof PeerMessageType.versionDelete; readonly doc: DocRef; readonly id: string }
  /**
   * One piece of the encoded frame of a message too large for one frame (a first sync of a long history).
   * A message's pieces share `id` and follow each other on the link; `last` marks the final one.
   */
  | { readonly type: typeof PeerMessageType.chunk; readonly id: number; readonly last: boolean; readonly bytes: Uint8Array }
  /** Token revocations decided (or lifted) on the sender: every node keeps the same list. JSON inside. */
  | { readonly type: typeof PeerMessageType.revocations; readonly entries: readonly RevocationEntry[] }
  /** The sender has clients on this doc (on) or no longer (off): send it this node's presence for the doc. */
  | { readonly type: typeof PeerMessageType.presenceWatch; readonly doc: DocRef; readonly on: boolean }
  /**
   * Awareness entries (y-protocols encoding) announced by one client socket of the sender, `socket`
   * numbering it among the sender's sockets: the receiver holds them for that socket, under its caps.
   */
  | { readonly type: typeof PeerMessageType.presence; readonly doc: DocRef; readonly socket: number; readonly payload: Uint8Array }
  /** An ephemeral message (automerge-repo) from a client of the sender that speaks as `sender`. */
  | { readonly type: typeof PeerMessageType.ephemeral; readonly doc: DocRef; readonly sender: string; readonly payload: Uint8Array }
  /**
   * Version anti-entropy. Step 1: a digest of the version ids (live and deleted) per shared partition
   * (`digests[i]` for `partitions[i]`; partitions without any are left out), no docs. Step 2, the answer:
   * the partitions whose digests differ, and the answerer's digest of each doc with version ids in them.
   */
  | {
      readonly type: typeof PeerMessageType.versionDigests
      readonly step: 1 | 2
      readonly partitions: Uint16Array
      readonly digests: string[]
      readonly docs: DocVersion[]
    }
  /**
   * The version ids the sender holds of a doc whose digests differ. The receiver pushes what the sender
   * lacks, applies its deletes, and (unless `answer`) sends its own ids back.
   */
  | {
      readonly type: typeof PeerMessageType.versionIds
      readonly doc: DocRef
      readonly live: string[]
      readonly deleted: string[]
      readonly answer: boolean
    }
  /** Step 4: how many docs the responder started repairing (0 when in sync). */
  | { readonly type: typeof PeerMessageType.aeDone; readonly round: number; readonly repaired: number }

function writeDoc(e: encoding.Encoder, doc: DocRef): void {
  encoding.writeVarString(e, doc.engine)
  encoding.writeVarString(e, doc.docId)
}

function readDoc(d: decoding.Decoder): DocRef {
  const engine = decoding.readVarString(d)
  const docId = decoding.readVarString(d)
  if (!isEngineName(engine)) throw new Error('unknown engine')
  if (!isDocId(docId)) throw new Error('invalid doc id')
  return { engine, docId }
}

function readVersion(d: decoding.Decoder): PeerVersion {
  const id = decoding.readVarString(d)
  const named = decoding.readVarUint(d) === 1
  const name = decoding.readVarString(d)
  const kind = decoding.readVarString(d)
  if (kind !== 'named' && kind !== 'auto') throw new Error('unknown version kind')
  const principal = decoding.readVarString(d)
  const at = decoding.readFloat64(d)
  if (!Number.isFinite(at)) throw new Error('bad version time')
  const seq = decoding.readVarUint(d)
  const state = decoding.readVarUint8Array(d)
  return { id, name: named ? name : null, kind, principal, at, seq, state }
}

function writeStrings(e: encoding.Encoder, list: readonly string[]): void {
  encoding.writeVarUint(e, list.length)
  for (const s of list) encoding.writeVarString(e, s)
}
function readStrings(d: decoding.Decoder, frameBytes: number): string[] {
  const n = decoding.readVarUint(d)
  if (n > frameBytes) throw new Error('list longer than the frame')
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(decoding.readVarString(d))
  return out
}

function writeU16s(e: encoding.Encoder, a: Uint16Array): void {
  encoding.writeVarUint(e, a.length)
  for (const v of a) encoding.writeUint16(e, v)
}
function readU16s(d: decoding.Decoder): Uint16Array {
  const n = decoding.readVarUint(d)
  if (n > 65536) throw new Error('too many partitions')
  const out = new Uint16Array(n)
  for (let i = 0; i < n; i++) out[i] = decoding.readUint16(d)
  return out
}

export function encodePeerMessage(m: PeerMessage): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, m.type)
  switch (m.type) {
    case PeerMessageType.hello:
      encoding.writeVarString(e, m.id)
      encoding.writeVarString(e, m.url)
      encoding.writeVarString(e, m.boot)
      encoding.writeVarString(e, m.store)
      break
    case PeerMessageType.swim:
      encoding.writeVarString(e, JSON.stringify(m.msg))
      break
    case PeerMessageType.docUpdate:
      writeDoc(e, m.doc)
      encoding.writeVarUint(e, m.reqId)
      encoding.writeVarUint8Array(e, m.update)
      if (m.trace !== undefined && m.trace !== '') encoding.writeVarString(e, m.trace)
      break
    case PeerMessageType.docAck:
      encoding.writeVarUint(e, m.reqId)
      encoding.writeVarUint(e, m.ok ? 1 : 0)
      break
    case PeerMessageType.docSync:
      writeDoc(e, m.doc)
      encoding.writeVarUint8Array(e, m.payload)
      encoding.writeVarUint(e, m.fresh ? 1 : 0)
      break
    case PeerMessageType.interest:
      writeDoc(e, m.doc)
      encoding.writeVarUint(e, m.on ? 1 : 0)
      break
    case PeerMessageType.aeTop:
      encoding.writeVarUint(e, m.round)
      writeU16s(e, m.partitions)
      encoding.writeVarUint8Array(e, m.digests)
      break
    case PeerMessageType.aeLeaves:
      encoding.writeVarUint(e, m.round)
      writeU16s(e, m.partitions)
      encoding.writeVarUint8Array(e, m.leaves)
      break
    case PeerMessageType.aeDocs:
      encoding.writeVarUint(e, m.round)
      encoding.writeVarUint(e, m.leaves.length)
      for (const l of m.leaves) encoding.writeVarUint(e, l)
      encoding.writeVarUint(e, m.docs.length)
      for (const doc of m.docs) {
        encoding.writeVarString(e, doc.key)
        encoding.writeVarString(e, doc.version)
      }
      break
    case PeerMessageType.aeDone:
      encoding.writeVarUint(e, m.round)
      encoding.writeVarUint(e, m.repaired)
      break
    case PeerMessageType.docDelete:
      writeDoc(e, m.doc)
      encoding.writeFloat64(e, m.deletedAt)
      break
    case PeerMessageType.docStateless:
      writeDoc(e, m.doc)
      encoding.writeVarString(e, m.payload)
      break
    case PeerMessageType.versionPut:
      writeDoc(e, m.doc)
      encoding.writeVarString(e, m.version.id)
      encoding.writeVarUint(e, m.version.name === null ? 0 : 1)
      encoding.writeVarString(e, m.version.name ?? '')
      encoding.writeVarString(e, m.version.kind)
      encoding.writeVarString(e, m.version.principal)
      encoding.writeFloat64(e, m.version.at)
      encoding.writeVarUint(e, m.version.seq)
      encoding.writeVarUint8Array(e, m.version.state)
      break
    case PeerMessageType.versionDelete:
      writeDoc(e, m.doc)
      encoding.writeVarString(e, m.id)
      break
    case PeerMessageType.revocations:
      encoding.writeVarString(e, JSON.stringify(m.entries.map((x) => ({ kind: x.kind, id: x.value, at: x.at, expiresAt: x.expiresAt, lifted: x.lifted }))))
      break
    case PeerMessageType.chunk:
      encoding.writeVarUint(e, m.id)
      encoding.writeVarUint(e, m.last ? 1 : 0)
      encoding.writeVarUint8Array(e, m.bytes)
      break
    case PeerMessageType.presenceWatch:
      writeDoc(e, m.doc)
      encoding.writeVarUint(e, m.on ? 1 : 0)
      break
    case PeerMessageType.presence:
      writeDoc(e, m.doc)
      encoding.writeVarUint(e, m.socket)
      encoding.writeVarUint8Array(e, m.payload)
      break
    case PeerMessageType.ephemeral:
      writeDoc(e, m.doc)
      encoding.writeVarString(e, m.sender)
      encoding.writeVarUint8Array(e, m.payload)
      break
    case PeerMessageType.versionDigests:
      encoding.writeVarUint(e, m.step)
      writeU16s(e, m.partitions)
      writeStrings(e, m.digests)
      writeStrings(e, m.docs.flatMap((doc) => [doc.key, doc.version]))
      break
    case PeerMessageType.versionIds:
      writeDoc(e, m.doc)
      writeStrings(e, m.live)
      writeStrings(e, m.deleted)
      encoding.writeVarUint(e, m.answer ? 1 : 0)
      break
  }
  return encoding.toUint8Array(e)
}

export function decodePeerMessage(frame: Uint8Array): PeerMessage {
  const d = decoding.createDecoder(frame)
  try {
    const type = decoding.readVarUint(d)
    switch (type) {
      case PeerMessageType.hello: {
        const id = decoding.readVarString(d)
        const url = decoding.readVarString(d)
        const boot = decoding.hasContent(d) ? decoding.readVarString(d) : ''
        const store = decoding.hasContent(d) ? decoding.readVarString(d) : ''
        if (boot.length > 64 || store.length > 64) throw new Error('hello ids too long')
        return { type, id, url, boot, store }
      }
      case PeerMessageType.swim: {
        const msg: unknown = JSON.parse(decoding.readVarString(d))
        if (typeof msg !== 'object' || msg === null || typeof (msg as { kind?: unknown }).kind !== 'string') throw new Error('swim message without kind')
        return { type, msg: msg as SwimMessage }
      }
      case PeerMessageType.docUpdate: {
        const doc = readDoc(d)
        const reqId = decoding.readVarUint(d)
        const update = decoding.readVarUint8Array(d)
        if (!decoding.hasContent(d)) return { type, doc, reqId, update }
        const trace = decoding.readVarString(d)
        if (trace.length > 128) throw new Error('traceparent too long')
        return { type, doc, reqId, update, trace }
      }
      case PeerMessageType.docAck:
        return { type, reqId: decoding.readVarUint(d), ok: decoding.readVarUint(d) === 1 }
      case PeerMessageType.docSync:
        return { type, doc: readDoc(d), payload: decoding.readVarUint8Array(d), fresh: decoding.readVarUint(d) === 1 }
      case PeerMessageType.interest:
        return { type, doc: readDoc(d), on: decoding.readVarUint(d) === 1 }
      case PeerMessageType.aeTop:
        return { type, round: decoding.readVarUint(d), partitions: readU16s(d), digests: decoding.readVarUint8Array(d) }
      case PeerMessageType.aeLeaves:
        return { type, round: decoding.readVarUint(d), partitions: readU16s(d), leaves: decoding.readVarUint8Array(d) }
      case PeerMessageType.aeDocs: {
        const round = decoding.readVarUint(d)
        const nLeaves = decoding.readVarUint(d)
        if (nLeaves > 65536) throw new Error('too many leaves')
        const leaves = new Uint32Array(nLeaves)
        for (let i = 0; i < nLeaves; i++) leaves[i] = decoding.readVarUint(d)
        const n = decoding.readVarUint(d)
        if (n > frame.length) throw new Error('doc count larger than the frame')
        const docs: DocVersion[] = []
        for (let i = 0; i < n; i++) docs.push({ key: decoding.readVarString(d), version: decoding.readVarString(d) })
        return { type, round, leaves, docs }
      }
      case PeerMessageType.aeDone:
        return { type, round: decoding.readVarUint(d), repaired: decoding.readVarUint(d) }
      case PeerMessageType.docDelete: {
        const doc = readDoc(d)
        const deletedAt = decoding.readFloat64(d)
        if (!Number.isFinite(deletedAt)) throw new Error('bad deletion time')
        return { type, doc, deletedAt }
      }
      case PeerMessageType.docStateless:
        return { type, doc: readDoc(d), payload: decoding.readVarString(d) }
      case PeerMessageType.versionPut:
        return { type, doc: readDoc(d), version: readVersion(d) }
      case PeerMessageType.versionDelete:
        return { type, doc: readDoc(d), id: decoding.readVarString(d) }
      case PeerMessageType.revocations: {
        const list: unknown = JSON.parse(decoding.readVarString(d))
        if (!Array.isArray(list)) throw new Error('revocations must be a list')
        const entries = list.map((item: unknown) => {
          const kind = (item as { kind?: unknown } | null)?.kind
          if (kind !== 'jti' && kind !== 'sub') throw new Error('a revocation names a jti or a sub')
          return parseEntry(kind, item)
        })
        return { type, entries }
      }
      case PeerMessageType.chunk:
        return { type, id: decoding.readVarUint(d), last: decoding.readVarUint(d) === 1, bytes: decoding.readVarUint8Array(d) }
      case PeerMessageType.presenceWatch:
        return { type, doc: readDoc(d), on: decoding.readVarUint(d) === 1 }
      case PeerMessageType.presence:
        return { type, doc: readDoc(d), socket: decoding.readVarUint(d), payload: decoding.readVarUint8Array(d) }
      case PeerMessageType.ephemeral:
        return { type, doc: readDoc(d), sender: decoding.readVarString(d), payload: decoding.readVarUint8Array(d) }
      case PeerMessageType.versionDigests: {
        const step = decoding.readVarUint(d)
        if (step !== 1 && step !== 2) throw new Error('unknown version digest step')
        const partitions = readU16s(d)
        const digests = readStrings(d, frame.length)
        const flat = readStrings(d, frame.length)
        if (flat.length % 2 !== 0) throw new Error('a doc without its digest')
        const docs: DocVersion[] = []
        for (let i = 0; i < flat.length; i += 2) docs.push({ key: flat[i], version: flat[i + 1] })
        return { type, step, partitions, digests, docs }
      }
      case PeerMessageType.versionIds:
        return { type, doc: readDoc(d), live: readStrings(d, frame.length), deleted: readStrings(d, frame.length), answer: decoding.readVarUint(d) === 1 }
      default:
        throw new MurmurError(ErrorCode.UNKNOWN_MESSAGE, `unknown peer message type ${type}`)
    }
  } catch (err) {
    if (err instanceof MurmurError) throw err
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed peer message: ${(err as Error).message}`)
  }
}
