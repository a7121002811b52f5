import { ErrorCode, MurmurError } from '@murmur/shared'
import type { ReplicaAcks } from '../docs/durability.js'

interface PendingAck {
  needed: number
  resolve: () => void
  reject: (err: MurmurError) => void
  timer: NodeJS.Timeout
}

/** A wait that needs no replica to answer: already settled, carried by no push. */
function settled(done: Promise<void>): ReplicaAcks {
  done.catch(() => undefined)
  return { reqId: 0, done, pushed: true }
}

/**
 * Writes waiting for W-of-N replica acks, by request id: each resolves once enough replicas answered
 * `docAck`, or rejects with REPLICATION_TIMEOUT.
 */
export class AckWaits {
  private readonly pending = new Map<number, PendingAck>()
  private nextReqId = 1

  constructor(private readonly timeoutMs: number) {}

  /** A wait for `needed` other replicas (of the `replicas` asked for); settled at once when none is needed. */
  expect(needed: number, replicas: number): ReplicaAcks {
    if (needed <= 0) return settled(Promise.resolve())
    const reqId = this.nextReqId++
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId)
        reject(new MurmurError(ErrorCode.REPLICATION_TIMEOUT, `could not reach ${replicas} replicas within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      timer.unref()
      this.pending.set(reqId, { needed, resolve, reject, timer })
    })
    // Whoever applies the write waits on `done` after its own fsync; a failed fsync leaves it unread.
    done.catch(() => undefined)
    return { reqId, done, pushed: false }
  }

  /** A wait that cannot succeed (fewer replicas than asked for). */
  refused(err: MurmurError): ReplicaAcks {
    return settled(Promise.reject(err))
  }

  /** A replica holds the write of `reqId` durably. */
  answered(reqId: number): void {
    const p = this.pending.get(reqId)
    if (p === undefined || --p.needed > 0) return
    clearTimeout(p.timer)
    this.pending.delete(reqId)
    p.resolve()
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new MurmurError(ErrorCode.SHUTTING_DOWN, 'node shutting down'))
    }
    this.pending.clear()
  }
}
