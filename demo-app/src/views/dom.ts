/** A few lines of DOM building, so views read as markup without a framework. */

type Child = Node | string | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>

/** Create an element: `h('button', { class: 'x', onclick: fn }, 'Label')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/u, ''), value)
    else if (value === true) el.setAttribute(name, '')
    else el.setAttribute(name, String(value))
  }
  append(el, ...children)
  return el
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c)
  }
}

/** Replace all children of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, ...children)
}

/** Something mounted that must be torn down: listeners, editors, handles. */
export interface View {
  readonly el: HTMLElement
  destroy(): void
}

/** Collects teardown functions and runs them once, newest first. */
export class Disposer {
  private readonly fns: (() => void)[] = []

  add(fn: () => void): void {
    this.fns.push(fn)
  }

  dispose(): void {
    for (const fn of this.fns.splice(0).reverse()) fn()
  }
}
