import { initials, renamed, saveIdentity, type Identity } from '../app/identity.js'
import { h, type View } from './dom.js'

/** You, as others see you: your avatar and a name you can change. */
export class Me implements View {
  readonly el: HTMLElement
  private identity: Identity

  constructor(identity: Identity, onChange: (identity: Identity) => void) {
    this.identity = identity
    const avatar = h('span', { class: 'avatar', style: `--user-color: ${identity.color}`, 'aria-hidden': 'true' }, initials(identity.name))
    const input = h('input', { class: 'me-name', type: 'text', value: identity.name, maxlength: 40, 'aria-label': 'Your name', 'data-testid': 'my-name' })
    input.addEventListener('change', () => {
      this.identity = renamed(this.identity, input.value)
      input.value = this.identity.name
      avatar.textContent = initials(this.identity.name)
      saveIdentity(this.identity)
      onChange(this.identity)
    })
    this.el = h('div', { class: 'me' }, avatar, h('div', { class: 'me-text' }, h('span', { class: 'me-caption' }, 'You appear as'), input))
  }

  destroy(): void {}
}
