import * as Y from 'yjs'
import { ErrorCode, MurmurError } from '../../errors.js'
import { NOTHING_APPLIED, receiveEach, type ApplyOptions, type ApplyResult, type ReceivedAll, type SyncSession } from '../engine.js'
import { YSyncMessage, decodeYSyncMessage, encodeYSyncMessage, isEmptyUpdate } from './sync-message.js'
import { validate, validateStateVector } from './validate.js'

/** What a sync session needs of its doc (`YjsDoc`). */
export interface SyncedYjsDoc {
  /** The Y.Doc, decoded first if the doc is hibernating. */
  readonly doc: Y.Doc
  stateVector(): Uint8Array
  diff(stateVector: Uint8Array, peerHasNothing: boolean): Uint8Array
  applyUpdate(update: Uint8Array, origin?: unknown, options?: ApplyOptions): ApplyResult
  applyTrusted(updates: readonly Uint8Array[], origin?: unknown): boolean
}

/** y-protocols sync with one peer: SyncStep1/SyncStep2, then updates both ways. */
export class YjsSyncSession implements SyncSession {
  peerStateMerged = false
  constructor(
    private readonly ydoc: SyncedYjsDoc,
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
