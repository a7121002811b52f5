import { loadIdentity, type Identity } from './app/identity.js'
import { chooseNodeUrl, chosenNodeUrl, nodeOrigin } from './app/nodes.js'
import { currentRoute, newDocId, onRouteChange, openDoc, type Route } from './app/route.js'
import { Session } from './app/session.js'
import { DocList } from './views/doc-list.js'
import { DocPage } from './views/doc-page.js'
import { h, replaceChildren } from './views/dom.js'
import { Me } from './views/me.js'
import { NodePicker } from './views/node-picker.js'
import { OfflineSwitch, workOfflinePreference } from './views/offline-switch.js'
import { Presence } from './views/presence.js'
import { StatusBadge } from './views/status-badge.js'

/**
 * The page: a top bar (presence, sync status, work offline, node), the document list, and the open
 * document. It owns the session and remounts the views when the route or the node changes.
 */
export class Shell {
  private identity: Identity = loadIdentity()
  private session: Session
  private page: DocPage | null = null
  private docList: DocList | null = null
  private readonly main = h('main', { class: 'main' })
  private readonly sidebar = h('aside', { class: 'sidebar', id: 'sidebar' })
  private readonly sidebarDocs = h('div', { class: 'sidebar-docs' })
  private readonly badge = new StatusBadge()
  private readonly presence = new Presence()
  private readonly offlineSwitch = new OfflineSwitch((offline) => this.session.client.setOnline(!offline))
  private readonly nodePicker = new NodePicker((url) => this.switchNode(url))
  private transitions: Promise<void> = Promise.resolve()
  private focusTitleOf: string | null = null

  constructor(root: HTMLElement) {
    const me = new Me(this.identity, (identity) => {
      this.identity = identity
      this.page?.setIdentity(identity)
    })
    const menu = h('button', { class: 'menu-toggle icon-button', type: 'button', 'aria-label': 'Show documents', 'aria-controls': 'sidebar', 'aria-expanded': 'false' }, '☰')
    menu.addEventListener('click', () => this.toggleSidebar())
    replaceChildren(this.sidebar, this.sidebarDocs, me.el)
    replaceChildren(
      root,
      h(
        'div',
        { class: 'shell' },
        h(
          'header',
          { class: 'topbar' },
          menu,
          h('a', { class: 'brand', href: '#/' }, h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), h('span', {}, 'Murmur')),
          this.presence.el,
          h('div', { class: 'topbar-controls' }, this.badge.el, this.offlineSwitch.el, this.nodePicker.el),
        ),
        this.sidebar,
        h('div', { class: 'scrim', 'aria-hidden': 'true', onclick: () => this.toggleSidebar(false) }),
        this.main,
      ),
    )
    this.session = this.startSession(chosenNodeUrl())
    onRouteChange((route) => this.transition(() => this.show(route)))
    this.transition(() => this.show(currentRoute()))
    // Leave presence as the tab goes away, so others see it at once.
    window.addEventListener('pagehide', () => this.page?.leave())
    window.addEventListener('pageshow', (ev) => {
      if (ev.persisted) this.page?.setIdentity(this.identity)
    })
  }

  private startSession(nodeUrl: string): Session {
    const session = new Session(nodeUrl, workOfflinePreference())
    this.docList = new DocList(session.index, () => this.createDoc())
    replaceChildren(this.sidebarDocs, this.docList.el)
    this.nodePicker.bind(session.client, nodeUrl)
    return session
  }

  private createDoc(): void {
    const id = newDocId()
    this.session.index.create(id)
    // Name it right away: the title field takes the focus once its page is up.
    this.focusTitleOf = id
    openDoc(id)
  }

  /** Route changes and node switches run one at a time, in order. */
  private transition(step: () => Promise<void>): void {
    this.transitions = this.transitions.then(step).catch((err: unknown) => console.error('murmur demo:', err))
  }

  private unmountPage(): void {
    if (this.page === null) return
    this.page.leave()
    this.page.destroy()
    this.session.closeDoc(this.page.doc)
    this.page = null
  }

  private async show(route: Route): Promise<void> {
    this.unmountPage()
    this.toggleSidebar(false)
    if (route.kind === 'doc') {
      const doc = await this.session.openDoc(route.docId)
      this.page = new DocPage(doc, this.session.index, this.identity)
      replaceChildren(this.main, this.page.el)
      this.presence.bind(doc.text.awareness)
      this.badge.watch([this.session.index.handle, ...this.page.statusSources])
      this.docList?.setActive(route.docId)
      if (this.focusTitleOf === route.docId) this.page.focusTitle()
      this.focusTitleOf = null
    } else {
      document.title = 'Murmur'
      replaceChildren(this.main, this.home())
      this.presence.bind(null)
      this.badge.watch([this.session.index.handle])
      this.docList?.setActive(null)
    }
  }

  private home(): HTMLElement {
    const create = h('button', { class: 'button button-primary button-large', type: 'button' }, 'Create a document')
    create.addEventListener('click', () => this.createDoc())
    return h(
      'section',
      { class: 'home' },
      h('h1', {}, 'Write together, even offline.'),
      h('p', { class: 'home-lead' }, 'Every document here lives on your device first and syncs through Murmur when a server is reachable. Open the same document in another window to see it move.'),
      create,
      h(
        'ul',
        { class: 'home-points' },
        h('li', {}, h('strong', {}, 'Notes'), ' — a shared text on Yjs, with everyone’s cursor.'),
        h('li', {}, h('strong', {}, 'Tasks'), ' — a checklist on Automerge: add, check, reorder, delete.'),
        h('li', {}, h('strong', {}, 'Work offline'), ' — edit without a network, reload, come back: nothing is lost.'),
        h('li', {}, h('strong', {}, 'Nodes'), ' — switch between cluster nodes; edits follow you.'),
      ),
    )
  }

  private toggleSidebar(open = !this.sidebar.classList.contains('is-open')): void {
    this.sidebar.classList.toggle('is-open', open)
    document.querySelector('.menu-toggle')?.setAttribute('aria-expanded', String(open))
  }

  /** Connect to another node: a new client for that URL, the same local data. */
  private switchNode(url: string): void {
    this.transition(async () => {
      // Where the client is now: it may have moved off the node it started on.
      if (url === nodeOrigin(this.session.client.url)) return
      chooseNodeUrl(url)
      this.unmountPage()
      this.presence.bind(null)
      this.badge.watch([])
      this.docList?.destroy()
      await this.session.close()
      this.session = this.startSession(url)
      await this.show(currentRoute())
    })
  }
}
