import { ErrorCode, MurmurError, type NodeId } from '@murmur/shared'
import type { Logger } from '../logger.js'

/**
 * Whether the cluster lets this process be node `self`. A node that knows seeds is `pending` until one
 * admits its hello (or none answers in time: it then serves alone, as in a partition), and `refused`
 * while any node refuses it because the id is alive there as another process. While not confirmed it
 * serves no doc (`error()`), so it acknowledges nothing; a node that admits it later (the other process
 * died: this one is then its replacement) takes its refusal back.
 */
export class IdentityCheck {
  private state: 'pending' | 'confirmed' | 'refused'
  /** Who refused this process (a URL or a node id), and what it said. */
  private readonly refusers = new Map<string, string>()
  private settle: () => void = () => undefined
  /** Resolves once the id is confirmed or refused. */
  readonly settled: Promise<void>

  constructor(
    private readonly self: NodeId,
    alone: boolean,
    private readonly log: Logger,
    /** Called when the id turns refused (the node drops what it serves). */
    private readonly onRefused: (error: MurmurError) => void,
  ) {
    this.state = alone ? 'confirmed' : 'pending'
    this.settled = alone ? Promise.resolve() : new Promise((resolve) => (this.settle = resolve))
  }

  get confirmed(): boolean {
    return this.state === 'confirmed'
  }

  /** The node at `url` (node `peer`) admitted this process. */
  admitted(peer: NodeId, url: string): void {
    this.refusers.delete(url)
    this.refusers.delete(peer)
    if (this.refusers.size > 0 || this.state === 'confirmed') return
    if (this.state === 'refused') this.log.warn({ node: this.self }, `node id ${this.self} is admitted by the cluster now; serving docs again`)
    this.state = 'confirmed'
    this.settle()
  }

  /** `who` refused this process: the id is alive there as another process. */
  refused(who: string, reason: string): void {
    const known = this.refusers.has(who)
    this.refusers.set(who, reason)
    if (this.state !== 'refused') {
      this.state = 'refused'
      this.onRefused(this.error() as MurmurError)
    }
    if (!known) {
      this.log.error(
        { node: this.self, refusedBy: who, reason },
        `node id ${this.self} is already alive in the cluster as another process (refused by ${who}): this node serves no docs and acknowledges no writes; start it with a unique --node-id`,
      )
    }
    this.settle()
  }

  /** No seed answered in time: serve alone (a duplicate is caught once a link comes up). */
  timedOut(): void {
    if (this.state !== 'pending') return
    this.log.warn({ node: this.self }, 'no peer admitted this node yet; serving without confirmation that its id is unique')
    this.state = 'confirmed'
    this.settle()
  }

  /** Why docs are not served now, or null when they are. */
  error(): MurmurError | null {
    if (this.state === 'confirmed') return null
    if (this.state === 'pending') return new MurmurError(ErrorCode.NODE_ID_CONFLICT, `node id ${this.self} is not yet confirmed by the cluster; try again shortly`)
    const [who] = this.refusers.keys()
    return new MurmurError(ErrorCode.NODE_ID_CONFLICT, `node id ${this.self} is already alive in the cluster (refused by ${who}); this node acknowledges nothing until it runs with a unique --node-id`)
  }
}
