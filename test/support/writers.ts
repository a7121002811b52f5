import * as Y from 'yjs'
import type { StoredDoc } from '../../server/dist/index.js'

/**
 * Writers that each edit their own Yjs doc (`w0`, `w1`, ...) through a node's HTTP API as fast as the
 * node acknowledges, every update setting a new key `k<n>` of map 'm'. `acked` holds, per writer, the
 * n of every update the node acknowledged (HTTP 200: durable on the node).
 */
export class HttpWriters {
  readonly acked: number[][]
  private stopping = false
  private readonly loops: Promise<void>[]
  private readonly listeners = new Set<() => void>()
  /** The first failure of a writer; it stops that writer, and `reach` and `stop` report it. */
  private failure: Error | null = null

  constructor(baseUrl: string, count: number) {
    this.acked = Array.from({ length: count }, () => [])
    this.loops = this.acked.map((acked, i) =>
      this.write(baseUrl, i, acked).catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err))
        for (const l of [...this.listeners]) l()
      }),
    )
  }

  /** Resolves once every writer has had `n` updates acknowledged. */
  reach(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.failure) {
          this.listeners.delete(check)
          reject(this.failure)
        } else if (this.acked.every((a) => a.length >= n)) {
          this.listeners.delete(check)
          resolve()
        }
      }
      this.listeners.add(check)
      check()
    })
  }

  /** What has been acknowledged so far, per writer (a copy). */
  snapshot(): number[][] {
    return this.acked.map((a) => [...a])
  }

  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.loops)
    if (this.failure) throw this.failure
  }

  private async write(baseUrl: string, i: number, acked: number[]): Promise<void> {
    const doc = new Y.Doc()
    let pending: Uint8Array | null = null
    doc.on('update', (u: Uint8Array) => {
      pending = u
    })
    for (let n = 0; !this.stopping; n++) {
      doc.getMap('m').set(`k${n}`, n)
      const body = Buffer.from(pending!)
      const res = await fetch(`${baseUrl}/v1/docs/yjs/w${i}/updates`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`writer ${i}: update ${n} answered ${res.status}`)
      acked.push(n)
      for (const l of [...this.listeners]) l()
    }
  }
}

/** The keys of map 'm' of a stored Yjs doc. */
export function storedKeys(stored: StoredDoc | null): Set<string> {
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdate(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return new Set(doc.getMap('m').keys())
}

/** The acknowledged updates of `acked` a store lacks, as "w<i>:k<n>" (empty when none is lost). */
export async function missingWrites(acked: number[][], load: (docId: string) => Promise<StoredDoc | null>): Promise<string[]> {
  const missing: string[] = []
  for (const [i, ns] of acked.entries()) {
    const keys = storedKeys(await load(`w${i}`))
    for (const n of ns) if (!keys.has(`k${n}`)) missing.push(`w${i}:k${n}`)
  }
  return missing
}
