/** Local updates re-sent after a reconnect are merged into batches of at most this many. */
const RESEND_BATCH = 500

/**
 * A doc's local updates that no server has acknowledged yet, by id, and the merged batches they were sent
 * again in after a reconnect. An update leaves when its ack, or the ack of a batch holding it, arrives.
 */
export class Outbox {
  private readonly entries = new Map<string, Uint8Array>()
  /** Ids of a merged resend batch → the outbox ids it stands for. */
  private readonly batches = new Map<string, string[]>()

  get size(): number {
    return this.entries.size
  }

  add(id: string, update: Uint8Array): void {
    this.entries.set(id, update)
  }

  /**
   * Every update again, as (id, bytes) to send: alone, or merged with `merge` in batches of up to
   * `RESEND_BATCH` under a batch id that `acknowledge` understands.
   */
  resend(merge: (updates: Uint8Array[]) => Uint8Array): [string, Uint8Array][] {
    const entries = [...this.entries]
    const out: [string, Uint8Array][] = []
    for (let i = 0; i < entries.length; i += RESEND_BATCH) {
      const batch = entries.slice(i, i + RESEND_BATCH)
      if (batch.length === 1) {
        out.push(batch[0])
        continue
      }
      const ids = batch.map(([id]) => id)
      const batchId = `batch:${ids[ids.length - 1]}`
      this.batches.set(batchId, ids)
      out.push([batchId, merge(batch.map(([, u]) => u))])
    }
    return out
  }

  /** Batches sent on a link that dropped are never acknowledged. */
  forgetBatches(): void {
    this.batches.clear()
  }

  /**
   * Take acknowledged ids (batch ids stand for their members) out: the ids they stand for, and how many
   * of those were still here.
   */
  acknowledge(ids: readonly string[]): { done: string[]; removed: number } {
    const done: string[] = []
    for (const id of ids) {
      const members = this.batches.get(id)
      if (members !== undefined) {
        this.batches.delete(id)
        done.push(...members)
      } else done.push(id)
    }
    let removed = 0
    for (const id of done) if (this.entries.delete(id)) removed++
    return { done, removed }
  }
}
