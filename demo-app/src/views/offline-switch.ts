import { h, type View } from './dom.js'

const KEY = 'murmur-demo:work-offline'

/** Whether the user chose to work offline; kept across reloads, like an airplane-mode switch. */
export function workOfflinePreference(): boolean {
  return localStorage.getItem(KEY) === '1'
}

/** The "Work offline" switch. */
export class OfflineSwitch implements View {
  readonly el: HTMLElement
  private readonly input: HTMLInputElement

  constructor(onChange: (offline: boolean) => void) {
    this.input = h('input', { type: 'checkbox', role: 'switch', 'data-testid': 'work-offline' })
    this.input.checked = workOfflinePreference()
    this.input.addEventListener('change', () => {
      const offline = this.input.checked
      if (offline) localStorage.setItem(KEY, '1')
      else localStorage.removeItem(KEY)
      onChange(offline)
    })
    this.el = h('label', { class: 'switch', title: 'Keep editing on this device only; sync when switched back' }, this.input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', { class: 'switch-label' }, 'Work offline'))
  }

  get offline(): boolean {
    return this.input.checked
  }

  destroy(): void {}
}
