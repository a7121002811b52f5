import { expect } from 'vitest'

/**
 * A set checker in the spirit of Jepsen's: every element a client saw acknowledged must be present on
 * every live replica at the end; nothing that was never written may appear.
 */
export class AckedSet {
  private readonly acked = new Set<string>()
  private readonly attempted = new Set<string>()
  private readonly listeners = new Set<() => void>()

  /** Called after every ack (for waits on progress). */
  onAck(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  attempt(id: string): void {
    this.attempted.add(id)
  }

  ack(id: string): void {
    this.acked.add(id)
    for (const l of this.listeners) l()
  }

  get ackedCount(): number {
    return this.acked.size
  }

  /** Check one replica's view; returns a readable report of what is wrong, or null. */
  check(replica: string, present: Iterable<string>): string | null {
    const seen = new Set(present)
    const lost = [...this.acked].filter((id) => !seen.has(id))
    const phantom = [...seen].filter((id) => !this.attempted.has(id))
    if (lost.length === 0 && phantom.length === 0) return null
    return `${replica}: ${lost.length} acknowledged lost (${lost.slice(0, 5).join(', ')}), ${phantom.length} never written (${phantom.slice(0, 5).join(', ')})`
  }

  expectOn(replica: string, present: Iterable<string>): void {
    expect(this.check(replica, present)).toBeNull()
  }
}
