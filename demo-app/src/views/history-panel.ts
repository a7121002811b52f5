import type { DocVersions, TextOp, VersionInfo, YjsHandle } from '@murmur/client'
import { h, replaceChildren, type View } from './dom.js'

const when = (iso: string): string => new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' })

/** "Alice" for a token subject, "Automatic" for the policy's versions. */
function who(principal: string | null): string {
  if (principal === null) return 'unknown'
  return principal === 'murmur:auto' ? 'automatic' : principal
}

/** The edit from a version to now, as kept / removed / added runs. */
function renderOps(ops: readonly TextOp[]): HTMLElement {
  const out = h('pre', { class: 'history-preview-text', 'data-testid': 'version-preview' })
  for (const op of ops) {
    if ('retain' in op) out.append(op.retain)
    else if ('delete' in op) out.append(h('del', { class: 'history-removed', title: 'in this version, not now' }, op.delete))
    else out.append(h('ins', { class: 'history-added', title: 'added since this version' }, op.insert))
  }
  return out
}

/**
 * The notes' history: the versions with who made them, a read-only preview of one with what changed
 * since highlighted, "Name this version" and "Restore".
 */
export class HistoryPanel implements View {
  readonly el: HTMLElement
  private readonly list: HTMLElement
  private readonly preview: HTMLElement
  private readonly message: HTMLElement
  private selected: string | null = null
  private destroyed = false
  private readonly online = (): void => void this.run(async () => undefined)

  constructor(
    private readonly versions: DocVersions,
    private readonly text: YjsHandle,
    private readonly field: string,
  ) {
    const name = h('input', { class: 'history-name', type: 'text', placeholder: 'Version name', maxlength: 200, 'aria-label': 'Version name', 'data-testid': 'version-name' })
    const save = h('button', { class: 'button', type: 'button', 'data-testid': 'name-version' }, 'Name this version')
    save.addEventListener('click', () => {
      const value = name.value.trim()
      if (value === '') return name.focus()
      void this.run(async () => {
        // The server names what it holds: wait until every local edit is acknowledged.
        await this.text.whenSynced()
        await this.versions.create(value)
        name.value = ''
      })
    })
    const refresh = h('button', { class: 'button button-quiet', type: 'button', 'data-testid': 'refresh-history' }, 'Refresh')
    refresh.addEventListener('click', () => void this.run(async () => undefined))
    this.list = h('ol', { class: 'history-list', 'data-testid': 'version-list' })
    this.preview = h('div', { class: 'history-preview' })
    this.message = h('p', { class: 'history-message', role: 'status' })
    this.el = h(
      'section',
      { class: 'card history-card', 'aria-label': 'History', 'data-testid': 'history' },
      h('header', { class: 'card-head' }, h('h2', {}, 'History'), h('span', { class: 'card-meta' }, 'versions of the notes'), refresh),
      h('div', { class: 'history-new' }, name, save),
      this.message,
      this.list,
      this.preview,
    )
    window.addEventListener('online', this.online)
    void this.run(async () => undefined)
  }

  /** Do `action`, then show the list (and the selected preview) again; errors are shown, not thrown. */
  private async run(action: () => Promise<void>): Promise<void> {
    // Versions live on the server: without a network there is nothing to ask (and a failed request is
    // an error in the console). The list comes back with the network.
    if (!navigator.onLine) {
      this.message.textContent = 'Versions are shown when you are back online.'
      return
    }
    try {
      await action()
      await this.showList()
      if (this.selected !== null) await this.showPreview(this.selected)
      this.message.textContent = ''
    } catch (err) {
      if (!this.destroyed) this.message.textContent = err instanceof Error ? err.message : String(err)
    }
  }

  private async showList(): Promise<void> {
    const versions = await this.versions.list()
    if (this.destroyed) return
    const items = [...versions].reverse().map((v) => this.item(v))
    replaceChildren(this.list, ...(items.length > 0 ? items : [h('li', { class: 'history-empty' }, 'No versions yet.')]))
  }

  private item(v: VersionInfo): HTMLElement {
    const open = h(
      'button',
      { class: 'history-item', type: 'button', 'data-version-id': v.id, 'aria-pressed': v.id === this.selected ? 'true' : 'false' },
      h('span', { class: 'history-item-name' }, v.name ?? 'Automatic version'),
      h('span', { class: 'history-item-meta' }, `${who(v.principal)} · ${when(v.at)}`),
    )
    open.addEventListener('click', () => {
      this.selected = v.id
      void this.run(async () => undefined)
    })
    return h('li', {}, open)
  }

  private async showPreview(id: string): Promise<void> {
    const [{ version }, diff] = await Promise.all([this.versions.get(id), this.versions.diff(id, 'current')])
    if (this.destroyed || this.selected !== id) return
    const restore = h('button', { class: 'button', type: 'button', 'data-testid': 'restore-version' }, 'Restore')
    restore.addEventListener('click', () =>
      void this.run(async () => {
        const { before } = await this.versions.restore(id)
        this.message.textContent = `Restored. “${before.name ?? ''}” keeps what was there.`
      }),
    )
    const changedBy = diff.principals.length === 0 ? 'nobody since' : `changed since by ${diff.principals.map(who).join(', ')}`
    replaceChildren(
      this.preview,
      h('h3', {}, version.name ?? 'Automatic version', ' ', h('span', { class: 'card-meta' }, `${who(version.principal)} · ${when(version.at)} · ${changedBy}`)),
      renderOps(diff.texts[this.field] ?? [{ retain: '' }]),
      restore,
    )
  }

  destroy(): void {
    this.destroyed = true
    window.removeEventListener('online', this.online)
  }
}
