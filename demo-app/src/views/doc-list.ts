import { displayTitle, type DocIndex } from '../app/doc-index.js'
import { docHref } from '../app/route.js'
import { Disposer, h, replaceChildren, type View } from './dom.js'

/** The sidebar's list of documents, live from the index doc, with the open one highlighted. */
export class DocList implements View {
  readonly el: HTMLElement
  private readonly list = h('ul', { class: 'doc-list', 'data-testid': 'doc-list' })
  private readonly subscriptions = new Disposer()
  private activeId: string | null = null

  constructor(
    private readonly index: DocIndex,
    onCreate: () => void,
  ) {
    const create = h('button', { class: 'button button-primary new-doc', type: 'button', 'data-testid': 'new-doc' }, h('span', { 'aria-hidden': 'true' }, '+'), ' New document')
    create.addEventListener('click', onCreate)
    this.el = h('nav', { class: 'docs', 'aria-label': 'Documents' }, create, h('h2', { class: 'docs-heading' }, 'Documents'), this.list)
    this.subscriptions.add(index.onChange(() => this.render()))
    void index.handle.whenLoaded().then(() => this.render())
    this.render()
  }

  setActive(docId: string | null): void {
    this.activeId = docId
    this.render()
  }

  private render(): void {
    const entries = this.index.entries()
    if (entries.length === 0) {
      replaceChildren(this.list, h('li', { class: 'docs-empty' }, 'No documents yet.'))
      return
    }
    replaceChildren(
      this.list,
      ...entries.map((e) =>
        h(
          'li',
          {},
          h(
            'a',
            { class: e.id === this.activeId ? 'doc-link is-active' : 'doc-link', href: docHref(e.id), 'data-doc-id': e.id, 'aria-current': e.id === this.activeId ? 'page' : null },
            h('span', { class: 'doc-link-icon', 'aria-hidden': 'true' }),
            h('span', { class: 'doc-link-title' }, displayTitle(e)),
          ),
        ),
      ),
    )
  }

  destroy(): void {
    this.subscriptions.dispose()
  }
}
