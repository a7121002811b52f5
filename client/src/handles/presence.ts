import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { Origin } from './origin.js'

interface AwarenessChange {
  added: number[]
  updated: number[]
  removed: number[]
}

/**
 * Carries a handle's presence (y-protocols awareness, for either engine) to and from the server: local
 * changes go out while the doc is open on a server, remote ones come in, and what others announced is
 * dropped while disconnected (the server sends it again on reconnect).
 */
export class PresenceRelay {
  private readonly onChange: (change: AwarenessChange, origin: unknown) => void

  constructor(
    readonly awareness: Awareness,
    private readonly send: (payload: Uint8Array) => void,
    private readonly isOpen: () => boolean,
  ) {
    this.onChange = ({ added, updated, removed }, origin) => {
      if (origin === Origin.server || !this.isOpen()) return
      this.send(encodeAwarenessUpdate(awareness, added.concat(updated, removed)))
    }
    awareness.on('update', this.onChange)
  }

  /** The doc was opened on a server: announce our own state. */
  attached(): void {
    if (this.awareness.getLocalState() !== null) this.send(encodeAwarenessUpdate(this.awareness, [this.awareness.clientID]))
  }

  /** The connection dropped: others' presence is unknown until the server re-sends it. */
  detached(): void {
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.awareness.clientID)
    if (others.length > 0) removeAwarenessStates(this.awareness, others, Origin.server)
  }

  receive(payload: Uint8Array): void {
    try {
      applyAwarenessUpdate(this.awareness, payload, Origin.server)
    } catch {
      // A malformed presence update is not worth a reconnect.
    }
  }

  /** Tell the others we left, then stop. */
  close(): void {
    this.awareness.setLocalState(null)
    this.awareness.off('update', this.onChange)
    this.awareness.destroy()
  }
}
