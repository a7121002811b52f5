import { getEngine, type SyncSession } from '@murmur/shared'

/**
 * Whether the engine's sync sessions answer a doc update with the same messages for every peer (Yjs),
 * so that a fanned-out update can be encoded once for all sockets (`Engine.sharesUpdateMessages`).
 */
export function sharesUpdateMessages(engine: string): boolean {
  return getEngine(engine).sharesUpdateMessages
}

function forget(memo: BroadcastFrames): void {
  memo.clear()
}

/**
 * The frames of the update being fanned out, encoded once for all the sockets of one endpoint. A doc
 * hands the same update object to each of its subscribers in one loop, so remembering the last update is
 * enough; the memo is dropped at the end of the tick, so it keeps no update alive. Frames differ only by
 * `key` (a `/sync` ref), so sockets under the same key share the very same bytes.
 */
export class BroadcastFrames {
  private update: Uint8Array | null = null
  private payloads: readonly Uint8Array[] = []
  private readonly frames = new Map<number, readonly Uint8Array[]>()

  constructor(
    /** Encode one session message as the endpoint's frame under `key`. */
    private readonly encode: (payload: Uint8Array, key: number) => Uint8Array,
  ) {}

  /**
   * The frames that tell a peer on `session` about `update`. Only for sessions of an engine that
   * `sharesUpdateMessages`: the first session's messages stand for everyone's.
   */
  framesFor(update: Uint8Array, session: SyncSession, key: number): readonly Uint8Array[] {
    if (update !== this.update) {
      if (this.update === null) process.nextTick(forget, this)
      this.update = update
      this.payloads = session.onDocUpdate(update)
      this.frames.clear()
    }
    let frames = this.frames.get(key)
    if (frames === undefined) {
      // As Buffers, which ws sends as they are (it wraps any other bytes in a Buffer for every send).
      frames = this.payloads.map((payload) => {
        const frame = this.encode(payload, key)
        return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
      })
      this.frames.set(key, frames)
    }
    return frames
  }

  clear(): void {
    this.update = null
    this.payloads = []
    this.frames.clear()
  }
}
