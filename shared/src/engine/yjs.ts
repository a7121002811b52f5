import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ErrorCode, MurmurError } from '../errors.js'
import { sha256Hex } from '../digest.js'
import {
  EngineName,
  NOTHING_APPLIED,
  receiveEach,
  type ApplyOptions,
  type ApplyResult,
  type Engine,
  type EngineDoc,
  type ReceivedAll,
  type SyncSession,
  type SyncSessionOptions,
  type UpdateListener,
} from './engine.js'

/** y-protocols sync message types; the same numbers y-websocket uses. */
export const YSyncMessage = { step1: 0, step2: 1, update: 2 } as const
export type YSyncMessage = (typeof YSyncMessage)[keyof typeof YSyncMessage]

export function encodeYSyncMessage(type: YSyncMessage, payload: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, type)
  encoding.writeVarUint8Array(enc, payload)
  return encoding.toUint8Array(enc)
}

export function decodeYSyncMessage(message: Uint8Array): { type: YSyncMessage; payload: Uint8Array } {
  try {
    const dec = decoding.createDecoder(message)
    const type = decoding.readVarUint(dec)
    if (type !== YSyncMessage.step1 && type !== YSyncMessage.step2 && type !== YSyncMessage.update) {
      throw new Error(`unknown sync message type ${type}`)
    }
    const payload = decoding.readVarUint8Array(dec)
    return { type, payload }
  } catch (err) {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed Yjs sync message: ${(err as Error).message}`)
  }
}

function validate(update: Uint8Array): void {
  decodeValidated(update)
}

/** Decode an update and check it the way `validate` documents; its structs, in update order. */
function decodeValidated(update: Uint8Array): Array<Y.Item | Y.GC | Y.Skip> {
  try {
    // Reads every struct and then the delete set (`parseUpdateMeta` stops before the delete set, so bytes
    // cut inside it passed and then failed half-applied); throws on truncated or corrupt bytes.
    const { structs, ds } = Y.decodeUpdate(update)
    // An item refers to its neighbours and parent as they were when it was made, so a reference to the
    // same client is always to an earlier clock. Yjs trusts this and fails half-way through integrating
    // an item that points ahead at its own client, leaving the doc changed but the update refused.
    for (const s of structs) {
      if (!(s instanceof Y.Item)) continue
      const { client, clock } = s.id
      const parent = s.parent instanceof Y.ID ? s.parent : null
      for (const ref of [s.origin, s.rightOrigin, parent]) {
        if (ref !== null && ref.client === client && ref.clock >= clock) throw new Error('an item refers ahead to its own client')
      }
    }
    // Yjs never writes an empty delete range, and one for items we do not have yet makes it throw when
    // it sets the range aside, after the update's structs went in: refused here, before anything applies.
    for (const ranges of ds.clients.values()) {
      for (const range of ranges) if (!(range.len > 0)) throw new Error('empty delete range')
    }
    return structs
  } catch (err) {
    throw new MurmurError(ErrorCode.INVALID_UPDATE, `malformed Yjs update: ${(err as Error).message}`)
  }
}

/**
 * The state vector a doc holding just this update has, from its decoded structs: per client, the end of
 * the run that starts at clock 0 and has no gap (what `Y.encodeStateVectorFromUpdate` computes).
 */
function stateVectorOf(structs: ReadonlyArray<Y.Item | Y.GC | Y.Skip>): Uint8Array {
  const sv = new Map<number, number>()
  let client = -1
  let end = 0
  let counting = false
  for (const s of structs) {
    if (s.id.client !== client) {
      if (end > 0) sv.set(client, end)
      client = s.id.client
      end = 0
      counting = s.id.clock === 0
    }
    if (s instanceof Y.Skip || s.id.clock !== end) counting = false
    if (counting) end = s.id.clock + s.length
  }
  if (end > 0) sv.set(client, end)
  return Y.encodeStateVector(sv)
}

function validateStateVector(sv: Uint8Array): Map<number, number> {
  try {
    return Y.decodeStateVector(sv)
  } catch (err) {
    throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed state vector: ${(err as Error).message}`)
  }
}

/**
 * A stored Yjs snapshot: this header, the state vector (length-prefixed), then the state as one V1 update.
 * Loading it needs no decode at all. A V1 update never starts with these bytes in practice: they would
 * read as no structs followed by a delete set of 0x3fa6ff... clients.
 */
const STORED_HEADER = new Uint8Array([0x00, 0xff, 0xcd, 0x4d, 0x55, 0x52, 0x59, 0x01])

function encodeStored(stateVector: Uint8Array, update: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeUint8Array(enc, STORED_HEADER)
  encoding.writeVarUint8Array(enc, stateVector)
  encoding.writeUint8Array(enc, update)
  return encoding.toUint8Array(enc)
}

/** The state vector and update of a stored snapshot, or null for a plain update (stored before the header existed). */
function decodeStored(bytes: Uint8Array): { stateVector: Uint8Array; update: Uint8Array } | null {
  if (bytes.length < STORED_HEADER.length || STORED_HEADER.some((b, i) => bytes[i] !== b)) return null
  try {
    const dec = decoding.createDecoder(bytes.subarray(STORED_HEADER.length))
    const stateVector = decoding.readVarUint8Array(dec)
    // lib0 reads past the end of a view into the buffer behind it rather than failing.
    if (dec.pos > dec.arr.length) throw new Error('cut short')
    Y.decodeStateVector(stateVector)
    return { stateVector, update: bytes.subarray(STORED_HEADER.length + dec.pos) }
  } catch (err) {
    throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs snapshot is corrupt: ${(err as Error).message}`, { cause: err })
  }
}

/** Updates up to this size are handed to update listeners as they arrived (see `YjsDoc.applyUpdate`). */
const AS_IS_MAX_BYTES = 16 * 1024

/** Whether a transaction changed the doc: what Yjs checks before it emits 'update'. */
function transactionChanged(tr: Y.Transaction): boolean {
  // A changed type means an item went in or was deleted; the state vectors are compared (per client,
  // a map lookup each) only for what changed no type, such as structs already garbage-collected.
  if (tr.deleteSet.clients.size > 0 || tr.changed.size > 0) return true
  for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) return true
  return false
}

function hasPending(doc: Y.Doc): boolean {
  return doc.store.pendingStructs !== null || doc.store.pendingDs !== null
}

/**
 * A root type's class is only known to code that asked for it by type (`getText`, `getArray`, ...); a
 * server that never did infers it from the content: map entries → map, string content → text, else array.
 */
function rootToJSON(doc: Y.Doc, name: string, type: Y.AbstractType<Y.YEvent<Y.AbstractType<unknown>>>): unknown {
  if (type instanceof Y.Text || type instanceof Y.Map || type instanceof Y.Array || type instanceof Y.XmlFragment) return type.toJSON()
  if (type._map.size > 0) return doc.getMap(name).toJSON()
  let item = type._start
  while (item !== null && item.deleted) item = item.right
  if (item === null) return null
  if (item.content instanceof Y.ContentString || item.content instanceof Y.ContentFormat || item.content instanceof Y.ContentEmbed) {
    return doc.getText(name).toString()
  }
  return doc.getArray(name).toJSON()
}

let docsMade = 0

/**
 * A Y.Doc for the engine. Left to itself, Yjs names each doc with a random uuid, one random draw per hex
 * digit: about 0.15 ms in Node, more than loading a small doc. The name only matters for a subdoc (whose
 * name comes with it), which an engine doc never is.
 */
function newYDoc(): Y.Doc {
  return new Y.Doc({ gc: true, guid: `murmur-${++docsMade}` })
}

function applyStored(bytes: Uint8Array, doc: Y.Doc): void {
  try {
    Y.applyUpdate(doc, bytes)
  } catch (err) {
    throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs doc is corrupt: ${(err as Error).message}`, { cause: err })
  }
}

/** How `YjsDoc.applyUpdate` and its listeners on the Y.Doc agree on who reports a transaction. */
interface ApplyRouting {
  /** Transactions of the `applyUpdate` under way, in order; null outside one. */
  applying: Y.Transaction[] | null
  /** True while the `applyUpdate` under way hands its own bytes to listeners (see there). */
  asIs: boolean
  /** Whether `onYUpdate` is registered for Yjs's 'update' event just now. */
  hearingYUpdates: boolean
}

/**
 * A Yjs doc that is either live (a Y.Doc) or hibernating (its whole state as one encoded update). A
 * decoded Y.Doc takes 15–20× its encoded size in memory and a few times its decode time to build, so a
 * server keeps docs nobody edits encoded: a new peer's sync is answered from the encoded bytes as they
 * are, a returning peer's with `Y.diffUpdate`, and only a write (or a content read) decodes the doc.
 */
class YjsDoc implements EngineDoc {
  readonly engine = EngineName.yjs
  private live: Y.Doc | null
  private encoded: Uint8Array | null
  private cachedVersion: string | null = null
  private cachedStateVector: Uint8Array | null = null
  private readonly listeners = new Set<UpdateListener>()
  /**
   * Shared by `applyUpdate` and the listeners on the Y.Doc, as one object: fields set through `this`
   * would land on an object that merely delegates to this one (`Object.create(doc)`), where the
   * listeners, bound to this one, would not see them.
   */
  private readonly routing: ApplyRouting = { applying: null, asIs: false, hearingYUpdates: false }

  constructor(doc: Y.Doc | null, encoded: Uint8Array | null = null, stateVector: Uint8Array | null = null) {
    this.live = doc
    this.encoded = doc === null ? encoded : null
    this.cachedStateVector = stateVector
    if (doc !== null) this.watch(doc)
  }

  /**
   * Listen to a live Y.Doc once, for as long as it lives: registering and removing listeners on every
   * apply allocated in lib0's observable each time (a client applies every update a server relays).
   */
  private watch(doc: Y.Doc): void {
    doc.on('afterTransactionCleanup', this.onTransactionCleanup)
    doc.on('update', this.onYUpdate)
    this.routing.hearingYUpdates = true
  }

  /**
   * Yjs encodes a transaction for 'update' listeners right after this event, and only when there are
   * any. An as-is apply takes `onYUpdate` off and leaves it off while updates keep arriving that way;
   * it is put back here, before Yjs looks, for the first transaction that needs Yjs's encoding.
   */
  private readonly onTransactionCleanup = (tr: Y.Transaction): void => {
    const routing = this.routing
    routing.applying?.push(tr)
    if (routing.asIs || routing.hearingYUpdates) return
    tr.doc.on('update', this.onYUpdate)
    routing.hearingYUpdates = true
  }

  /** The Y.Doc, decoded from the encoded state first if the doc is hibernating. */
  get doc(): Y.Doc {
    if (this.live !== null) return this.live
    const doc = newYDoc()
    try {
      applyStored(this.encoded as Uint8Array, doc)
    } catch (err) {
      doc.destroy()
      throw err
    }
    // Attached after the decode: rebuilding the doc is not a change anyone needs to hear about.
    this.watch(doc)
    this.live = doc
    this.encoded = null
    return doc
  }

  get hibernating(): boolean {
    return this.live === null
  }

  hibernate(encoded?: Uint8Array): boolean {
    const doc = this.live
    if (doc === null) return true
    if (hasPending(doc)) return false
    this.version()
    const stored = encoded === undefined ? null : decodeStored(encoded)
    this.cachedStateVector = stored?.stateVector ?? Y.encodeStateVector(doc)
    this.encoded = stored?.update ?? encoded ?? Y.encodeStateAsUpdate(doc)
    doc.off('afterTransactionCleanup', this.onTransactionCleanup)
    doc.off('update', this.onYUpdate)
    this.routing.hearingYUpdates = false
    doc.destroy()
    this.live = null
    return true
  }

  /** Any change, however it arrives, invalidates the cached version and state vector. */
  private readonly onYUpdate = (update: Uint8Array, origin: unknown): void => {
    this.cachedVersion = null
    this.cachedStateVector = null
    for (const listener of this.listeners) listener(update, origin)
  }

  applyUpdate(update: Uint8Array, origin?: unknown, options: ApplyOptions = {}): ApplyResult {
    const trusted = options.trusted === true
    if (!trusted) validate(update)
    // Yjs encodes every transaction's changes for its 'update' listeners, which costs about a third of
    // the apply. When the bytes applied can stand for the change, our listener steps aside and hears
    // them instead: for small updates (a large one may be mostly known, e.g. a peer's whole delete set)
    // and for trusted ones (a client storing what the server sent). Not while structs wait for missing
    // dependencies: those integrate now and are in no bytes we have.
    const asIs = (trusted || update.length <= AS_IS_MAX_BYTES) && !hasPending(this.doc)
    const changed = this.integrate([update], origin, asIs)
    // Keep the raw bytes when they changed the doc, or when part of them waits for missing
    // dependencies (pending structs are not in the 'update' event but must survive a restart).
    if (!changed && !hasPending(this.doc)) return NOTHING_APPLIED
    return { changed, persist: update }
  }

  /**
   * Apply updates from a trusted peer (see `ApplyOptions.trusted`) in one transaction: Yjs's own cost
   * per transaction (two state vectors, the events, the cleanup) is paid once for the run, and observers
   * hear the run as one event. Update listeners get each update as it is. True when the doc changed.
   */
  applyTrusted(updates: readonly Uint8Array[], origin?: unknown): boolean {
    return this.integrate(updates, origin, !hasPending(this.doc))
  }

  /**
   * Apply `updates` in one transaction and tell the update listeners what changed: with `asIs`, the
   * bytes applied stand for the change; otherwise Yjs encodes it. If Yjs fails part-way, what did go
   * in is reported all the same (re-read from the doc), then the error is thrown.
   */
  private integrate(updates: readonly Uint8Array[], origin: unknown, asIs: boolean): boolean {
    const doc = this.doc
    const routing = this.routing
    if (asIs && routing.hearingYUpdates) {
      doc.off('update', this.onYUpdate)
      routing.hearingYUpdates = false
    }
    const transactions: Y.Transaction[] = []
    // Saved and restored: an observer may apply an update of its own while this one applies.
    const outer = routing.applying
    const outerAsIs = routing.asIs
    routing.applying = transactions
    routing.asIs = asIs
    let failure: unknown = null
    try {
      if (updates.length === 1) Y.applyUpdate(doc, updates[0], origin)
      // Not a local transaction, as Y.applyUpdate's own are not: observers and undo managers tell them apart.
      else Y.transact(doc, () => updates.forEach((update) => Y.applyUpdate(doc, update, origin)), origin, false)
    } catch (err) {
      failure = err
    } finally {
      routing.applying = outer
      routing.asIs = outerAsIs
    }
    const changed = transactions.length > 0 && transactionChanged(transactions[0])
    if (asIs) {
      for (const [i, tr] of transactions.entries()) {
        if (!transactionChanged(tr)) continue
        // Changes made by observers while the updates applied (an app that normalizes what arrives) are
        // their own transactions, and a failed apply's are not all of its bytes: re-read from the doc
        // (with its whole delete set).
        if (i > 0 || failure !== null) this.onYUpdate(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(tr.beforeState)), tr.origin)
        else for (const update of updates) this.onYUpdate(update, origin)
      }
    }
    if (failure !== null) {
      // Decoded fine but Yjs still failed on it; the caller gets the same error as for malformed bytes.
      throw new MurmurError(ErrorCode.INVALID_UPDATE, `Yjs rejected update: ${(failure as Error).message}`, { cause: failure })
    }
    return changed
  }

  encodeSnapshot(): Uint8Array {
    return this.live === null ? (this.encoded as Uint8Array) : Y.encodeStateAsUpdate(this.live)
  }

  encodeForStorage(): Uint8Array {
    return encodeStored(this.stateVector(), this.encodeSnapshot())
  }

  /** The state vector, from the encoded state while hibernating. */
  stateVector(): Uint8Array {
    if (this.live !== null) return Y.encodeStateVector(this.live)
    this.cachedStateVector ??= Y.encodeStateVectorFromUpdate(this.encoded as Uint8Array)
    return this.cachedStateVector
  }

  /** What a peer at `stateVector` lacks, as one update. */
  diff(stateVector: Uint8Array, peerHasNothing: boolean): Uint8Array {
    if (this.live !== null) return Y.encodeStateAsUpdate(this.live, stateVector)
    const encoded = this.encoded as Uint8Array
    return peerHasNothing ? encoded : Y.diffUpdate(encoded, stateVector)
  }

  version(): string {
    // A Yjs snapshot is (delete set, state vector), both written in sorted client order, so equal states
    // give equal bytes. The delete set matters: a delete leaves the state vector unchanged.
    if (this.cachedVersion !== null) return this.cachedVersion
    if (this.live !== null) {
      this.cachedVersion = sha256Hex(Y.encodeSnapshot(Y.snapshot(this.live)))
      return this.cachedVersion
    }
    // Hibernating without a known version (loaded that way): decode a copy, keep only the digest.
    const copy = newYDoc()
    try {
      applyStored(this.encoded as Uint8Array, copy)
      this.cachedVersion = sha256Hex(Y.encodeSnapshot(Y.snapshot(copy)))
    } finally {
      copy.destroy()
    }
    return this.cachedVersion
  }

  onUpdate(listener: UpdateListener): () => void {
    // A wrapper per registration, so the same function registered twice is called twice.
    const entry: UpdateListener = (update, origin) => listener(update, origin)
    this.listeners.add(entry)
    return () => this.listeners.delete(entry)
  }

  createSyncSession(options: SyncSessionOptions = {}): SyncSession {
    return new YjsSyncSession(this, options.readOnly === true, options.trustedPeer === true)
  }

  toJSON(): unknown {
    const doc = this.doc
    const out: Record<string, unknown> = {}
    for (const [name, type] of doc.share) out[name] = rootToJSON(doc, name, type)
    return out
  }

  destroy(): void {
    this.listeners.clear()
    this.live?.destroy()
    this.live = null
    this.encoded = null
  }
}

class YjsSyncSession implements SyncSession {
  peerStateMerged = false
  constructor(
    private readonly ydoc: YjsDoc,
    private readonly readOnly: boolean,
    private readonly trustedPeer: boolean,
  ) {}

  start(): Uint8Array[] {
    return [encodeYSyncMessage(YSyncMessage.step1, this.ydoc.stateVector())]
  }

  receive(message: Uint8Array, origin?: unknown): { replies: Uint8Array[]; applied: ApplyResult } {
    const { type, payload } = decodeYSyncMessage(message)
    if (type === YSyncMessage.step1) {
      const peerHasNothing = validateStateVector(payload).size === 0
      const diff = this.ydoc.diff(payload, peerHasNothing)
      return { replies: [encodeYSyncMessage(YSyncMessage.step2, diff)], applied: NOTHING_APPLIED }
    }
    // A peer with nothing new (every new client) changes nothing: no need to decode a hibernating doc.
    // A peer's SyncStep2 always carries its whole delete set, so "not empty" is not "has changes": a
    // read-only peer holding deletes would be refused. What matters is whether it has anything we lack.
    if (!isEmptyUpdate(payload) && this.readOnly && !this.containsUpdate(payload)) {
      throw new MurmurError(ErrorCode.FORBIDDEN, 'this session is read-only')
    }
    const applied = isEmptyUpdate(payload) ? NOTHING_APPLIED : this.ydoc.applyUpdate(payload, origin, { trusted: this.trustedPeer })
    if (type === YSyncMessage.step2) this.peerStateMerged = true
    return { replies: [], applied }
  }

  /**
   * From a trusted peer, each run of changes (updates and SyncStep2s) goes in as one transaction. A run
   * that fails is handled again one message at a time (an update applied twice changes nothing), so that
   * only the message at fault is refused. From any other peer, one message at a time.
   */
  receiveAll(messages: readonly Uint8Array[], origin?: unknown): ReceivedAll {
    if (!this.trustedPeer || this.readOnly || messages.length === 1) return receiveEach(this, messages, origin)
    const replies: Uint8Array[] = []
    const errors: unknown[] = []
    let run: Uint8Array[] = []
    let updates: Uint8Array[] = []
    let merges = false
    const applyRun = (): void => {
      if (run.length === 0) return
      try {
        if (updates.length > 0) this.ydoc.applyTrusted(updates, origin)
        if (merges) this.peerStateMerged = true
      } catch {
        errors.push(...receiveEach(this, run, origin).errors)
      }
      run = []
      updates = []
      merges = false
    }
    for (const message of messages) {
      let decoded: { type: YSyncMessage; payload: Uint8Array }
      try {
        decoded = decodeYSyncMessage(message)
      } catch (err) {
        errors.push(err)
        continue
      }
      if (decoded.type === YSyncMessage.step1) {
        applyRun()
        const each = receiveEach(this, [message], origin)
        replies.push(...each.replies)
        errors.push(...each.errors)
        continue
      }
      run.push(message)
      if (!isEmptyUpdate(decoded.payload)) updates.push(decoded.payload)
      if (decoded.type === YSyncMessage.step2) merges = true
    }
    applyRun()
    return { replies, errors }
  }

  onDocUpdate(update: Uint8Array): Uint8Array[] {
    return [encodeYSyncMessage(YSyncMessage.update, update)]
  }

  /** True when the doc already holds everything in `update`. */
  private containsUpdate(update: Uint8Array): boolean {
    validate(update)
    return Y.snapshotContainsUpdate(Y.snapshot(this.ydoc.doc), update)
  }
}

/** An update with no structs and no deletes (what a peer with nothing new sends as SyncStep2). */
export function isEmptyUpdate(update: Uint8Array): boolean {
  // Encoded as: 0 struct clients, 0 delete-set clients.
  return update.length === 2 && update[0] === 0 && update[1] === 0
}

export const yjsEngine: Engine = {
  name: EngineName.yjs,
  sharesUpdateMessages: true,
  repairsWithSnapshot: false,
  create(): EngineDoc {
    return new YjsDoc(newYDoc())
  },
  load(snapshot: Uint8Array | null, updates: Iterable<Uint8Array>): EngineDoc {
    const rest = [...updates]
    const stored = snapshot === null ? null : decodeStored(snapshot)
    // A snapshot this engine stored: its bytes were checked when they were first applied (and storage
    // checksums them), and its state vector is in it.
    if (stored !== null && rest.length === 0) return new YjsDoc(null, stored.update, stored.stateVector)
    if (stored !== null) snapshot = stored.update
    // One piece of stored state (a compacted doc, or a doc written once) is served encoded, as it is.
    // Its state vector is read at once: the first sync needs it, and reading it checks the bytes.
    const single = rest.length === 0 ? snapshot : snapshot === null && rest.length === 1 ? rest[0] : null
    if (single !== null) {
      let stateVector
      try {
        stateVector = stateVectorOf(decodeValidated(single))
      } catch (err) {
        throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs doc is corrupt: ${(err as Error).message}`, { cause: err })
      }
      return new YjsDoc(null, single, stateVector)
    }
    const doc = newYDoc()
    try {
      Y.transact(doc, () => {
        if (snapshot !== null) Y.applyUpdate(doc, snapshot)
        for (const u of rest) Y.applyUpdate(doc, u)
      })
    } catch (err) {
      doc.destroy()
      throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Yjs doc is corrupt: ${(err as Error).message}`, { cause: err })
    }
    return new YjsDoc(doc)
  },
  mergeUpdates(updates: Uint8Array[]): Uint8Array {
    if (updates.length === 1) return updates[0]
    return Y.mergeUpdates(updates)
  },
  validateUpdate: validate,
}

/** The Y.Doc behind an engine doc of the Yjs engine (for code that needs the Yjs API itself). */
export function yDocOf(doc: EngineDoc): Y.Doc {
  if (!(doc instanceof YjsDoc)) throw new TypeError('not a Yjs engine doc')
  return doc.doc
}

/** Wrap an existing Y.Doc (the client SDK owns its Y.Doc and hands it to the engine layer). */
export function wrapYDoc(doc: Y.Doc): EngineDoc {
  return new YjsDoc(doc)
}
