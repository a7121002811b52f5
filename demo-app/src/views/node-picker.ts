import type { MurmurClient } from '@murmur/client'
import { failoverUrls, fetchNodes, nodeOrigin, type ClusterNode } from '../app/nodes.js'
import { Disposer, h, replaceChildren, type View } from './dom.js'

const REFRESH_MS = 15_000

function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/**
 * Which node this tab syncs through, and a menu of the cluster's nodes to switch to. The list comes from
 * the node that served the page (`/v1/cluster`) and is refreshed now and then; a single node lists itself.
 * The client gets the list too (`setUrls`): when its node is unreachable it moves to another member, and
 * the menu follows it to the node it is on.
 */
export class NodePicker implements View {
  readonly el: HTMLElement
  private readonly select: HTMLSelectElement
  private nodes: ClusterNode[] = []
  private current = location.origin
  /** The id the connected node gave in its welcome. */
  private connectedId: string | null = null
  private client: MurmurClient | null = null
  private readonly binding = new Disposer()
  private readonly timer: ReturnType<typeof setInterval>
  private readonly abort = new AbortController()

  constructor(onSwitch: (url: string) => void) {
    this.select = h('select', { 'aria-label': 'Server node', 'data-testid': 'node-select' })
    this.select.addEventListener('change', () => {
      if (this.select.value !== this.current) onSwitch(this.select.value)
    })
    this.select.addEventListener('focus', () => void this.refresh())
    this.el = h(
      'label',
      { class: 'node-picker', 'data-testid': 'node-picker' },
      h('span', { class: 'node-icon', 'aria-hidden': 'true' }),
      h('span', { class: 'node-caption' }, 'Node'),
      this.select,
    )
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS)
    void this.refresh()
  }

  /**
   * Follow this client, started on `chosenUrl`: the node it is on (or tries next) is the selected one,
   * its welcome names the node.
   */
  bind(client: MurmurClient, chosenUrl: string): void {
    this.binding.dispose()
    this.client = client
    if (this.nodes.length > 0) client.setUrls(failoverUrls(this.nodes))
    const show = (): void => {
      this.current = nodeOrigin(client.url)
      this.connectedId = client.state === 'open' ? client.nodeId : null
      this.el.dataset.connectedNode = this.connectedId ?? ''
      this.el.dataset.nodeUrl = this.current
      this.el.classList.toggle('is-connected', this.connectedId !== null)
      const moved = this.current !== chosenUrl ? `; moved here from ${hostOf(chosenUrl)}, which was unreachable` : ''
      this.el.title = this.connectedId !== null ? `Connected to node ${this.connectedId} (${hostOf(this.current)})${moved}` : `Not connected; trying ${hostOf(this.current)}`
      this.render()
    }
    this.binding.add(client.on('status', show))
    show()
  }

  async refresh(): Promise<void> {
    // Without a network there is nothing to ask (and a failed request is an error in the console).
    if (!navigator.onLine) return
    const nodes = await fetchNodes(this.abort.signal)
    if (this.abort.signal.aborted || nodes === null) return
    this.nodes = nodes
    this.client?.setUrls(failoverUrls(nodes))
    this.render()
  }

  private render(): void {
    const nodes = [...this.nodes]
    if (!nodes.some((n) => n.url === this.current)) nodes.unshift({ id: this.connectedId ?? hostOf(this.current), url: this.current, state: null })
    replaceChildren(
      this.select,
      ...nodes.map((n) => {
        const state = n.state !== null && n.state !== 'alive' ? ` (${n.state})` : ''
        return h('option', { value: n.url, title: hostOf(n.url), selected: n.url === this.current }, n.id + state)
      }),
    )
    this.select.value = this.current
  }

  destroy(): void {
    clearInterval(this.timer)
    this.abort.abort()
    this.binding.dispose()
    this.client = null
  }
}
