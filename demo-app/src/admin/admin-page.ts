import { h, replaceChildren } from '../views/dom.js'
import { fetchClusterState, type AdminNode, type ClusterState } from './cluster-state.js'

/** How often the page asks the node again. */
const POLL_MS = 1000

/**
 * The admin page: every node of the cluster with its state, the docs it has loaded (connections,
 * replicas), what waits for other nodes (hints, link queues) and the webhook outbox, refreshed live.
 */
export class AdminPage {
  private readonly status = h('p', { class: 'admin-status', 'data-testid': 'admin-status' }, 'Loading…')
  private readonly nodes = h('div', { class: 'admin-nodes', 'data-testid': 'admin-nodes' })
  private readonly abort = new AbortController()

  constructor(root: HTMLElement) {
    replaceChildren(
      root,
      h('header', { class: 'admin-header' }, h('a', { class: 'brand', href: '/' }, h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), h('span', {}, 'Murmur admin')), this.status),
      this.nodes,
    )
  }

  start(): void {
    const tick = async (): Promise<void> => {
      const poll = await fetchClusterState(this.abort.signal)
      if (poll.ok) this.render(poll.state)
      else this.status.textContent = poll.message
      if (!this.abort.signal.aborted) setTimeout(() => void tick(), POLL_MS)
    }
    void tick()
  }

  private render(state: ClusterState): void {
    const alive = state.nodes.filter((n) => n.state === 'alive').length
    this.status.textContent = `${state.nodes.length} node${state.nodes.length === 1 ? '' : 's'}, ${alive} alive · seen from ${state.self} · ${new Date().toLocaleTimeString()}`
    replaceChildren(
      this.nodes,
      ...state.nodes.map((n) =>
        h(
          'section',
          { class: 'admin-node', 'data-testid': 'admin-node', 'data-node-id': n.id, 'data-state': n.state },
          h('h2', {}, n.id, ' ', h('span', { class: `admin-state admin-state-${n.state}` }, n.state)),
          h('p', { class: 'admin-url' }, n.url),
          n.view === null ? h('p', { class: 'admin-error' }, n.error ?? 'no answer') : nodeBody(n.view),
        ),
      ),
    )
  }
}

function nodeBody(view: AdminNode): HTMLElement {
  const waiting = view.replication === null ? [] : Object.keys({ ...view.replication.hintsByPeer, ...view.replication.queuedBytesByPeer }).sort()
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'admin-facts' },
      h('dt', {}, 'ready'),
      h('dd', {}, view.storageFailure === null ? String(view.ready) : `storage failed: ${view.storageFailure}`),
      h('dt', {}, 'docs loaded'),
      h('dd', { 'data-testid': 'admin-docs-loaded' }, String(view.docsLoaded)),
      h('dt', {}, 'hints pending'),
      h('dd', {}, view.replication === null ? '—' : String(view.replication.hintsPending)),
      h('dt', {}, 'webhook outbox'),
      h('dd', {}, view.webhookOutbox === null ? 'off' : String(view.webhookOutbox.pending ?? '?')),
    ),
    waiting.length === 0
      ? null
      : h(
          'table',
          { class: 'admin-table' },
          h('thead', {}, h('tr', {}, h('th', {}, 'peer'), h('th', {}, 'hinted docs'), h('th', {}, 'queued bytes'))),
          h('tbody', {}, ...waiting.map((p) => h('tr', {}, h('td', {}, p), h('td', {}, String(view.replication?.hintsByPeer[p] ?? 0)), h('td', {}, String(view.replication?.queuedBytesByPeer[p] ?? 0))))),
        ),
    view.docs.length === 0
      ? h('p', { class: 'admin-empty' }, 'No docs loaded.')
      : h(
          'table',
          { class: 'admin-table' },
          h('thead', {}, h('tr', {}, h('th', {}, 'doc'), h('th', {}, 'engine'), h('th', {}, 'connections'), h('th', {}, 'replicas'))),
          h(
            'tbody',
            {},
            ...view.docs.map((d) =>
              h(
                'tr',
                { 'data-testid': 'admin-doc', 'data-doc-id': d.docId },
                h('td', {}, d.docId, d.hibernating ? ' (hibernating)' : ''),
                h('td', {}, d.engine),
                h('td', { 'data-testid': 'admin-doc-connections' }, String(d.connections)),
                h('td', {}, d.replicas.join(', ')),
              ),
            ),
          ),
        ),
  )
}
