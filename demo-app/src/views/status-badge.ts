import type { HandleStatus } from '@murmur/client'
import type { StatusSource } from '../app/handles.js'
import { Disposer, h, type View } from './dom.js'

/** From least to most settled: the badge shows the least settled of the open docs. */
const RANK: Record<HandleStatus, number> = { offline: 0, connecting: 1, syncing: 2, synced: 3 }

const LABEL: Record<HandleStatus, string> = {
  offline: 'Offline',
  connecting: 'Connecting…',
  syncing: 'Syncing…',
  synced: 'Synced',
}

const HINT: Record<HandleStatus, string> = {
  offline: 'Not connected. Edits are kept on this device and sent when you are back online.',
  connecting: 'Trying to reach the server. Edits are kept on this device meanwhile.',
  syncing: 'Connected. Exchanging changes with the server.',
  synced: 'Every change made here is saved on the server.',
}

/**
 * The sync status of everything on screen (the document list and the open document), and how many
 * local changes no server has acknowledged yet.
 */
export class StatusBadge implements View {
  readonly el: HTMLElement
  private readonly label = h('span', { class: 'status-label' })
  private readonly unsaved = h('span', { class: 'status-unsaved' })
  private sources: readonly StatusSource[] = []
  private readonly watching = new Disposer()

  constructor() {
    this.el = h('div', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'status' }, h('span', { class: 'status-dot' }), this.label, this.unsaved)
    this.render()
  }

  /** Show the combined status of these handles. */
  watch(sources: readonly StatusSource[]): void {
    this.watching.dispose()
    this.sources = sources
    for (const s of sources) {
      this.watching.add(s.on('status', () => this.render()))
      this.watching.add(s.on('unsaved', () => this.render()))
    }
    this.render()
  }

  private render(): void {
    let status: HandleStatus = 'synced'
    let unsaved = 0
    for (const s of this.sources) {
      if (RANK[s.status] < RANK[status]) status = s.status
      unsaved += s.unsavedCount
    }
    if (this.sources.length === 0) status = 'connecting'
    this.el.dataset.status = status
    this.el.dataset.unsaved = String(unsaved)
    this.el.title = HINT[status]
    this.label.textContent = LABEL[status]
    this.unsaved.textContent = unsaved === 0 ? '' : `${unsaved} unsaved`
    this.unsaved.hidden = unsaved === 0
  }

  destroy(): void {
    this.watching.dispose()
  }
}
