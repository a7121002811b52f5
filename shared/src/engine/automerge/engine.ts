/**
 * The Automerge engine adapter.
 *
 * Uses the `next` API of @automerge/automerge 2.x: every string is a collaborative text (the API that became
 * the default in 3.x and that automerge-repo peers use); the bytes on the wire and on disk are the same
 * either way. Under Node the package's `node` export loads the wasm synchronously; a browser bundle takes
 * its `browser` export, which imports the `.wasm` file as an ES module (Vite needs a wasm plugin for that).
 */
import * as A from '@automerge/automerge/next'
import { ErrorCode, MurmurError } from '../../errors.js'
import { sha256Hex } from '../../digest.js'
import { restoreUpdate } from './history.js'
import { concat, invalid, parseChunks, type Chunk } from './chunks.js'
import { receivedState, syncStateFields } from './sync-state.js'
import {
  EngineName,
  NOTHING_APPLIED,
  receiveEach,
  type ApplyResult,
  type Engine,
  type EngineDoc,
  type ReceivedAll,
  type SyncSession,
  type SyncSessionOptions,
  type UpdateListener,
} from '../engine.js'

type AutomergeValue = A.Doc<unknown>

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((h, i) => h === b[i])
}

class AutomergeDoc implements EngineDoc {
  readonly engine = EngineName.automerge
  /** The current value; Automerge marks older values outdated, so only this one may be changed. */
  value: AutomergeValue
  private readonly listeners = new Set<UpdateListener>()
  /**
   * Changes received whose dependencies are missing, by hash. Automerge queues them (and `save` keeps
   * them); they are tracked here so that they are emitted once they apply, and not taken in twice.
   */
  readonly pending = new Map<string, Uint8Array>()
  private cachedVersion: string | null = null

  constructor(value: AutomergeValue) {
    this.value = value
  }

  applyUpdate(update: Uint8Array, origin?: unknown): ApplyResult {
    const fresh = this.unknownChunks(parseChunks(update, true))
    if (fresh.length === 0) return NOTHING_APPLIED
    const bytes = fresh.length === 1 ? fresh[0].bytes : concat(fresh.map((c) => c.bytes))
    return this.integrate(fresh, origin, (value) => A.loadIncremental(value, bytes))
  }

  /** Chunks that bring something new: change chunks we neither hold nor queue, and document chunks. */
  unknownChunks(chunks: readonly Chunk[]): Chunk[] {
    return chunks.filter((c) => c.hash === null || (!this.pending.has(c.hash) && !this.hasChange(c.hash)))
  }

  hasChange(hash: string): boolean {
    return A.hasHeads(this.value, [hash])
  }

  /**
   * Run `apply` (which applies `fresh` to the value and returns the new one), then account for what got in:
   * emit the changes that are now part of the doc, queue the ones still waiting for dependencies.
   */
  integrate(fresh: readonly Chunk[], origin: unknown, apply: (value: AutomergeValue) => AutomergeValue): ApplyResult {
    const before = A.getHeads(this.value)
    try {
      this.value = apply(this.value)
    } catch (err) {
      // The chunks were checked, so this is a change that contradicts the doc (e.g. a reused sequence
      // number). Automerge may have applied the changes before it; an empty load brings the value up to date.
      this.value = A.loadIncremental(this.value, new Uint8Array(0))
      if (!sameHeads(before, A.getHeads(this.value))) this.afterChange(fresh, origin)
      throw invalid(`rejected by Automerge: ${(err as Error).message}`, err)
    }
    const changed = !sameHeads(before, A.getHeads(this.value))
    if (changed) this.afterChange(fresh, origin)
    else for (const c of fresh) if (c.hash !== null) this.pending.set(c.hash, c.bytes)
    // What to store: everything new, including changes still queued (a document chunk that changed
    // nothing was already held in full).
    const kept = changed ? fresh : fresh.filter((c) => c.hash !== null)
    if (kept.length === 0) return NOTHING_APPLIED
    return { changed, persist: concat(kept.map((c) => c.bytes)) }
  }

  private afterChange(fresh: readonly Chunk[], origin: unknown): void {
    this.cachedVersion = null
    const applied: Uint8Array[] = []
    for (const c of fresh) {
      if (c.hash === null || this.hasChange(c.hash)) applied.push(c.bytes)
      else this.pending.set(c.hash, c.bytes)
    }
    for (const [hash, bytes] of this.pending) {
      if (!this.hasChange(hash)) continue
      this.pending.delete(hash)
      applied.push(bytes)
    }
    this.emit(concat(applied), origin)
  }

  /** A local change; see `changeAutomerge`. */
  change(fn: (d: unknown) => void, message: string | undefined, origin: unknown): boolean {
    const before = this.value
    this.value = message === undefined ? A.change(before, fn) : A.change(before, { message }, fn)
    // `change` hands back the same value when the callback made no operation.
    if (this.value === before) return false
    this.cachedVersion = null
    const bytes = A.getLastLocalChange(this.value)
    if (bytes !== undefined) this.emit(bytes, origin)
    return true
  }

  private emit(update: Uint8Array, origin: unknown): void {
    for (const listener of [...this.listeners]) listener(update, origin)
  }

  encodeSnapshot(): Uint8Array {
    // `save` appends the queued changes after the document chunk, so nothing received is lost.
    return A.save(this.value)
  }

  version(): string {
    // Heads name the whole causal history, so they change on every change (deletes included) and are
    // equal for equal states; sorting makes them independent of the order changes arrived in.
    if (this.cachedVersion === null) {
      const heads = [...A.getHeads(this.value)].sort()
      this.cachedVersion = sha256Hex(new TextEncoder().encode(heads.join(',')))
    }
    return this.cachedVersion
  }

  onUpdate(listener: UpdateListener): () => void {
    // Wrapped so that registering the same function twice gives two subscriptions.
    const entry: UpdateListener = (update, origin) => listener(update, origin)
    this.listeners.add(entry)
    return () => this.listeners.delete(entry)
  }

  createSyncSession(options: SyncSessionOptions = {}): SyncSession {
    return new AutomergeSyncSession(this, options.readOnly === true)
  }

  toJSON(): unknown {
    return A.toJS(this.value)
  }

  destroy(): void {
    this.listeners.clear()
    A.free(this.value)
  }
}

/**
 * Most change hashes `peerHas` adds to a sync state's sent set. They leave it when the peer's next sync
 * message shows it holds them; a writer that only sends updates would otherwise grow it without end.
 */
const MAX_MARKED_HASHES = 10_000

/** One peer of Automerge's sync protocol; a new session starts from a fresh sync state. */
class AutomergeSyncSession implements SyncSession {
  private state: A.SyncState = A.initSyncState()
  private merged = false
  /** Hashes in the sent set, as last counted (see `MAX_MARKED_HASHES`). */
  private marked = 0

  constructor(
    private readonly doc: AutomergeDoc,
    private readonly readOnly: boolean,
  ) {
    // Fails at the first session, before any sync, when Automerge keeps its state otherwise than we read it.
    syncStateFields(this.state)
  }

  /**
   * True once the peer has told us its heads (every sync message carries them) and our doc holds all of
   * them: everything the peer had when it last spoke is merged. Stays true once reached, like Yjs's
   * "SyncStep2 received".
   */
  get peerStateMerged(): boolean {
    return this.merged
  }

  start(): Uint8Array[] {
    return this.generate()
  }

  receive(message: Uint8Array, origin?: unknown): { replies: Uint8Array[]; applied: ApplyResult } {
    let decoded: A.DecodedSyncMessage
    try {
      decoded = A.decodeSyncMessage(message)
    } catch (err) {
      throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `malformed Automerge sync message: ${(err as Error).message}`)
    }
    const chunks: Chunk[] = []
    for (const change of decoded.changes) for (const chunk of parseChunks(change, false)) chunks.push(chunk)
    const fresh = this.doc.unknownChunks(chunks)
    if (this.readOnly && fresh.length > 0) throw new MurmurError(ErrorCode.FORBIDDEN, 'this session is read-only')
    // The changes go in the way `applyUpdate` takes them; the sync state then moves as Automerge's own
    // `receiveSyncMessage` would move it (see `receivedState` for why it is not called).
    const applied = this.doc.integrate(fresh, origin, (value) => {
      const before = A.getHeads(value)
      const next = fresh.length === 0 ? value : A.loadIncremental(value, concat(fresh.map((c) => c.bytes)))
      // Stored before the doc emits, so a listener that asks this session for messages sees the new state.
      this.state = receivedState(next, this.state, decoded, before)
      return next
    })
    const theirHeads = this.state.theirHeads
    if (!this.merged && theirHeads != null && theirHeads.every((h) => this.doc.hasChange(h))) this.merged = true
    if (this.marked > 0) this.marked = Object.keys(sentHashes(this.state)).length
    return { replies: this.generate(), applied }
  }

  receiveAll(messages: readonly Uint8Array[], origin?: unknown): ReceivedAll {
    return receiveEach(this, messages, origin)
  }

  /**
   * The peer's own changes, which it sent as an update: recorded as sent to it, so that `generate` (which
   * leaves out what was sent) does not echo every keystroke back to the writer.
   */
  peerHas(update: Uint8Array): void {
    if (this.marked >= MAX_MARKED_HASHES) return
    const sent = sentHashes(this.state)
    let chunks: Chunk[]
    try {
      chunks = parseChunks(update, false)
    } catch {
      return // the update was refused by the doc, and the socket with it
    }
    for (const chunk of chunks) {
      if (chunk.hash === null || sent[chunk.hash] === true) continue
      // The state is this session's own object (a fresh one after every Automerge call), so it may be added to.
      sent[chunk.hash] = true
      this.marked++
    }
  }

  onDocUpdate(_update: Uint8Array): Uint8Array[] {
    // The sync state knows what the peer has; the message is built from it, not from the update bytes.
    return this.generate()
  }

  private generate(): Uint8Array[] {
    const [state, message] = A.generateSyncMessage(this.doc.value, this.state)
    this.state = state
    return message === null ? [] : [message]
  }
}

/** The sent set of a sync state as Automerge 2.2.9 exports it (a record, not the list its type names). */
function sentHashes(state: A.SyncState): Record<string, true> {
  return syncStateFields(state).sentHashes
}

export const automergeEngine: Engine = {
  name: EngineName.automerge,
  sharesUpdateMessages: false,
  repairsWithSnapshot: true,
  create(): EngineDoc {
    return new AutomergeDoc(A.init())
  },
  load(snapshot: Uint8Array | null, updates: Iterable<Uint8Array>): EngineDoc {
    let value: AutomergeValue = A.init()
    const chunks: Chunk[] = []
    try {
      // Every piece is checked first: loadIncremental skips what it cannot parse instead of throwing.
      for (const piece of snapshot === null ? updates : [snapshot, ...updates]) {
        const parsed = parseChunks(piece, false)
        value = A.loadIncremental(value, piece)
        chunks.push(...parsed)
      }
    } catch (err) {
      A.free(value)
      throw new MurmurError(ErrorCode.LOAD_FAILED, `stored Automerge doc is corrupt: ${(err as Error).message}`, {
        cause: err,
      })
    }
    const doc = new AutomergeDoc(value)
    // Changes still waiting for their dependencies are emitted when they apply, like received ones.
    if (A.getMissingDeps(value, []).length > 0) {
      for (const c of chunks) if (c.hash !== null && !doc.hasChange(c.hash)) doc.pending.set(c.hash, c.bytes)
    }
    return doc
  },
  mergeUpdates(updates: Uint8Array[]): Uint8Array {
    if (updates.length === 0) return EMPTY_UPDATE
    // Concatenated chunks are one update; duplicate changes are dropped.
    const seen = new Set<string>()
    const parts: Uint8Array[] = []
    for (const update of updates) {
      for (const chunk of parseChunks(update, true)) {
        if (chunk.hash !== null && seen.has(chunk.hash)) continue
        if (chunk.hash !== null) seen.add(chunk.hash)
        parts.push(chunk.bytes)
      }
    }
    return concat(parts)
  },
  validateUpdate(update: Uint8Array): void {
    parseChunks(update, true)
  },
  restoreUpdate,
}

/** The update that changes nothing: an empty document chunk (what merging no updates gives). */
const EMPTY_UPDATE: Uint8Array = A.save(A.init())

function automergeDoc(doc: EngineDoc): AutomergeDoc {
  if (!(doc instanceof AutomergeDoc)) throw new TypeError('not an Automerge engine doc')
  return doc
}

/**
 * Make a local change to an Automerge engine doc. Listeners get the change's bytes with `origin`
 * (`'local'` unless given). Returns false when `fn` changed nothing. Change the doc only through this:
 * calling `Automerge.change` on the value from `automergeValueOf` would leave the engine doc outdated.
 */
export function changeAutomerge<T = Record<string, unknown>>(
  doc: EngineDoc,
  fn: (d: T) => void,
  options: { message?: string; origin?: unknown } = {},
): boolean {
  // The engine doc holds an untyped value; the caller says what shape it has.
  return automergeDoc(doc).change(fn as (d: unknown) => void, options.message, options.origin ?? 'local')
}

/** The current Automerge value of an engine doc (read-only: see `changeAutomerge`). */
export function automergeValueOf<T = Record<string, unknown>>(doc: EngineDoc): A.Doc<T> {
  return automergeDoc(doc).value as A.Doc<T>
}

/**
 * The Automerge library the engine runs on (2.x, `next` API: strings are collaborative text), for use
 * inside `changeAutomerge` callbacks (`Automerge.splice`, `Automerge.updateText`) and for reads. Import it
 * from here rather than from the package: another copy of the package has its own wasm memory, and its
 * functions do not work on this engine's docs.
 */
export * as Automerge from '@automerge/automerge/next'
