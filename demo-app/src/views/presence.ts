import type { Awareness } from 'y-protocols/awareness'
import { initials } from '../app/identity.js'
import { Disposer, h, replaceChildren, type View } from './dom.js'

interface PresenceUser {
  readonly name: string
  readonly color: string
}

function userOf(state: unknown): PresenceUser | null {
  if (typeof state !== 'object' || state === null || !('user' in state)) return null
  const u = (state as { user: unknown }).user
  if (typeof u !== 'object' || u === null) return null
  const { name, color } = u as { name?: unknown; color?: unknown }
  if (typeof name !== 'string') return null
  return { name: name.slice(0, 40), color: typeof color === 'string' && /^#[0-9a-f]{3,8}$/iu.test(color) ? color : '#64748b' }
}

/** Who has the open document on screen, from its awareness: one avatar per tab, you first. */
export class Presence implements View {
  readonly el: HTMLElement
  private readonly list = h('ul', { class: 'presence-list' })
  private readonly binding = new Disposer()

  constructor() {
    this.el = h('div', { class: 'presence', 'data-testid': 'presence', 'aria-label': 'People here' }, this.list)
    this.el.hidden = true
  }

  bind(awareness: Awareness | null): void {
    this.binding.dispose()
    replaceChildren(this.list)
    this.el.hidden = awareness === null
    if (awareness === null) return
    const render = (): void => this.render(awareness)
    awareness.on('change', render)
    this.binding.add(() => awareness.off('change', render))
    render()
  }

  private render(awareness: Awareness): void {
    const self = awareness.clientID
    const people: { id: number; user: PresenceUser }[] = []
    for (const [id, state] of awareness.getStates()) {
      const user = userOf(state)
      if (user !== null) people.push({ id, user })
    }
    people.sort((a, b) => (a.id === self ? -1 : b.id === self ? 1 : a.user.name.localeCompare(b.user.name)))
    this.el.dataset.count = String(people.length)
    replaceChildren(
      this.list,
      ...people.map(({ id, user }) =>
        h(
          'li',
          { class: id === self ? 'person is-self' : 'person', 'data-user': user.name, title: id === self ? `${user.name} (you)` : user.name },
          h('span', { class: 'avatar', style: `--user-color: ${user.color}` }, initials(user.name)),
          h('span', { class: 'person-name' }, id === self ? `${user.name} (you)` : user.name),
        ),
      ),
    )
  }

  destroy(): void {
    this.binding.dispose()
  }
}
