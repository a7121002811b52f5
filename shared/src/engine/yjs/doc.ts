import * as Y from 'yjs'
import { ErrorCode, MurmurError } from '../../errors.js'
import { sha256Hex } from '../../digest.js'
import {
  EngineName,
  NOTHING_APPLIED,
  type ApplyOptions,
  type ApplyResult,
  type EngineDoc,
  type SyncSession,
  type SyncSessionOptions,
  type UpdateListener,
} from '../engine.js'
import { applyStored, decodeStored, encodeStored, newYDoc } from './stored.js'
import { YjsSyncSession } from './sync-session.js'
import { validate } from './validate.js'

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

export function hasPending(doc: Y.Doc): boolean {
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
export class YjsDoc implements EngineDoc {
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

  /**
   * The encoded state of a hibernating doc. A destroyed doc has neither form; using it is a caller's
   * bug, named as such (it used to read as corrupt stored bytes).
   */
  private encodedState(): Uint8Array {
    if (this.encoded === null) throw new MurmurError(ErrorCode.INTERNAL, 'the doc was used after it was unloaded')
    return this.encoded
  }

  /** The Y.Doc, decoded from the encoded state first if the doc is hibernating. */
  get doc(): Y.Doc {
    if (this.live !== null) return this.live
    const encoded = this.encodedState()
    const doc = newYDoc()
    try {
      applyStored(encoded, doc)
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
    return this.live === null ? this.encodedState() : Y.encodeStateAsUpdate(this.live)
  }

  encodeForStorage(): Uint8Array {
    return encodeStored(this.stateVector(), this.encodeSnapshot())
  }

  /** The state vector, from the encoded state while hibernating. */
  stateVector(): Uint8Array {
    if (this.live !== null) return Y.encodeStateVector(this.live)
    this.cachedStateVector ??= Y.encodeStateVectorFromUpdate(this.encodedState())
    return this.cachedStateVector
  }

  /** What a peer at `stateVector` lacks, as one update. */
  diff(stateVector: Uint8Array, peerHasNothing: boolean): Uint8Array {
    if (this.live !== null) return Y.encodeStateAsUpdate(this.live, stateVector)
    const encoded = this.encodedState()
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
    const encoded = this.encodedState()
    const copy = newYDoc()
    try {
      applyStored(encoded, copy)
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
