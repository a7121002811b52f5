import type { DocObserver, LiveDoc } from '../docs/live-doc.js'
import type { Logger } from '../logger.js'
import type { DocKey, VersionStore } from '../storage/storage.js'
import type { DocVersions } from './doc-versions.js'

/** When the automatic policy makes versions, and how many it keeps. */
export interface AutoVersionPolicy {
  /** A version is made once nobody changed the doc for this long; 0 turns automatic versions off. */
  readonly idleMs: number
  /** At most one automatic version per doc per this many ms. */
  readonly minIntervalMs: number
  /** Automatic versions kept per doc, newest first (named ones are never removed). */
  readonly keep: number
  /** Automatic versions older than this are removed. */
  readonly maxAgeMs: number
}

/** The principal automatic versions are made by. */
export const AUTO_PRINCIPAL = 'murmur:auto'

interface DocTimer {
  /** Armed while the doc waits; null while its version is being made, until a change comes. */
  timer: NodeJS.Timeout | null
  /**
   * When the wait ends. A change moves it, not the timer: a timer that fires before it waits for the
   * rest, so a doc under steady editing costs one timer per pause, not one per change.
   */
  dueAt: number
  /** When the last automatic version of the doc was made; null until known. */
  lastAt: number | null
  /** Changes seen since the entry was made (tells whether a version being made covers them all). */
  changes: number
}

const docKeyString = (key: DocKey): string => `${key.engine}\u0000${key.docId}`

/**
 * The automatic version policy: after a pause in editing (a change, then `idleMs` without one), at
 * most one per `minIntervalMs`, it makes a version of the doc and prunes the automatic ones past
 * `keep` or `maxAgeMs`. Only changes taken on this node count (a replica does not version what a peer
 * pushed: the node that took the write does, and its versions reach the replicas).
 */
export class AutoVersions implements DocObserver {
  private readonly docs = new Map<string, DocTimer>()
  private closed = false

  constructor(
    private readonly versions: DocVersions,
    private readonly storage: Pick<VersionStore, 'versions'>,
    private readonly policy: AutoVersionPolicy,
    private readonly fromPeer: (origin: unknown) => boolean,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.policy.idleMs > 0
  }

  loaded(): void {}

  unloaded(): void {}

  changed(doc: LiveDoc, _update: Uint8Array, origin: unknown): void {
    if (!this.enabled || this.closed || this.fromPeer(origin)) return
    const k = docKeyString(doc.key)
    const entry = this.docs.get(k)
    const now = Date.now()
    if (entry === undefined) {
      this.docs.set(k, { timer: this.arm(doc.key, this.policy.idleMs), dueAt: now + this.policy.idleMs, lastAt: null, changes: 1 })
      return
    }
    entry.changes++
    // Wait for a pause again, and at least until the interval since the last version has passed.
    const remaining = entry.lastAt === null ? 0 : entry.lastAt + this.policy.minIntervalMs - now
    entry.dueAt = now + Math.max(this.policy.idleMs, remaining)
    entry.timer ??= this.arm(doc.key, entry.dueAt - now)
  }

  /** Cancel every pending version (the node is stopping). */
  close(): void {
    this.closed = true
    for (const { timer } of this.docs.values()) if (timer !== null) clearTimeout(timer)
    this.docs.clear()
  }

  private arm(key: DocKey, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => void this.due(key), ms)
    timer.unref()
    return timer
  }

  private async due(key: DocKey): Promise<void> {
    const k = docKeyString(key)
    const entry = this.docs.get(k)
    if (entry === undefined || this.closed) return
    entry.timer = null
    const early = entry.dueAt - Date.now()
    if (early > 0) {
      // Changes came since the timer was armed: wait for the rest of the pause.
      entry.timer = this.arm(key, early)
      return
    }
    try {
      const autos = (await this.storage.versions(key)).filter((v) => v.kind === 'auto')
      entry.lastAt ??= autos.at(-1)?.at ?? 0
      const wait = entry.lastAt + this.policy.minIntervalMs - Date.now()
      if (wait > 0) {
        // Too soon after the last one: the doc is versioned once the interval allows (a change meanwhile
        // armed a timer already, which checks again when it fires).
        entry.timer ??= this.arm(key, wait)
        return
      }
      const changes = entry.changes
      // Set before the version exists, so that a change meanwhile waits a whole interval.
      entry.lastAt = Date.now()
      const made = await this.versions.create(key, { name: null, kind: 'auto', principal: AUTO_PRINCIPAL })
      entry.lastAt = made.at
      // Changes that came while it was made wait for the next one (their timer is armed again).
      if (entry.changes === changes) {
        if (entry.timer !== null) clearTimeout(entry.timer)
        this.docs.delete(k)
      }
      await this.prune(key, [...autos, made])
    } catch (err) {
      this.docs.delete(k)
      this.log.warn({ err, doc: key.docId }, 'could not make an automatic version')
    }
  }

  private async prune(key: DocKey, autos: readonly { id: string; at: number }[]): Promise<void> {
    const oldest = Date.now() - this.policy.maxAgeMs
    const excess = autos.length - this.policy.keep
    for (const [i, v] of autos.entries()) {
      if (i < excess || v.at < oldest) await this.versions.remove(key, v.id)
    }
  }
}
