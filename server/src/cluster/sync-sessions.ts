import type { NodeId, SyncSession } from '@murmur/shared'

/** A sync this node started is not restarted for this long (see `SyncSessions.mayStart`). */
const SYNC_GRACE_MS = 3000

/**
 * The engine sync sessions this node runs with its peers, one per (peer, doc key), and when each was
 * started. A session's state says what the peer holds, so sessions are dropped whenever messages with
 * that peer may have been lost (link down or lost) or the doc left memory.
 */
export class SyncSessions {
  private readonly sessions = new Map<string, SyncSession>()
  /** When this node last started each session (peer ‖ doc). */
  private readonly startedAt = new Map<string, number>()

  get(peer: NodeId, key: string): SyncSession | undefined {
    return this.sessions.get(id(peer, key))
  }

  set(peer: NodeId, key: string, session: SyncSession): void {
    this.sessions.set(id(peer, key), session)
  }

  /**
   * Whether to start (or restart) a sync, marking it started if so. A session started less than
   * `SYNC_GRACE_MS` ago is left to finish: anti-entropy notices a difference every round until the sync
   * completes, and restarting a stateful (Automerge) sync that often under load would keep it from ever
   * completing.
   */
  mayStart(peer: NodeId, key: string): boolean {
    const k = id(peer, key)
    const started = this.startedAt.get(k)
    if (started !== undefined && this.sessions.has(k) && Date.now() - started < SYNC_GRACE_MS) return false
    this.startedAt.set(k, Date.now())
    return true
  }

  /** A sync the peer just started counts as one in progress here too. */
  startedByPeer(peer: NodeId, key: string, session: SyncSession): void {
    const k = id(peer, key)
    this.sessions.set(k, session)
    this.startedAt.set(k, Date.now())
  }

  /** Drop every session of one doc. */
  dropDoc(key: string): void {
    const suffix = `\u0000${key}`
    for (const k of [...this.sessions.keys()]) if (k.endsWith(suffix)) this.forget(k)
  }

  /** Drop every session with one peer; returns the doc keys they were syncing. */
  dropPeer(peer: NodeId): string[] {
    const prefix = `${peer}\u0000`
    const keys: string[] = []
    for (const k of [...this.sessions.keys()]) {
      if (!k.startsWith(prefix)) continue
      this.forget(k)
      keys.push(k.slice(prefix.length))
    }
    return keys
  }

  private forget(k: string): void {
    this.sessions.delete(k)
    this.startedAt.delete(k)
  }
}

function id(peer: NodeId, key: string): string {
  return `${peer}\u0000${key}`
}
