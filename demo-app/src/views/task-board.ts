import type { AutomergeHandle } from '@murmur/client'
import { addTask, deleteTask, moveTask, newTaskId, sortedTasks, toggleTask, type TaskDoc, type TaskView } from '../tasks/model.js'
import { Disposer, h, type View } from './dom.js'

const icons = {
  up: '↑',
  down: '↓',
  delete: '×',
}

interface Row {
  readonly li: HTMLLIElement
  readonly box: HTMLInputElement
  readonly title: HTMLSpanElement
  readonly up: HTMLButtonElement
  readonly down: HTMLButtonElement
  readonly remove: HTMLButtonElement
}

/**
 * The checklist, an Automerge document: add, check, reorder and delete tasks. Every action is one
 * `change`, so it is stored locally at once and synced like any edit.
 */
export class TaskBoard implements View {
  readonly el: HTMLElement
  private readonly list = h('ol', { class: 'task-list', 'data-testid': 'task-list' })
  private readonly summary = h('span', { class: 'card-meta', 'data-testid': 'task-summary' })
  private readonly empty = h('p', { class: 'task-empty' }, 'No tasks yet. Add the first one above.')
  private readonly input: HTMLInputElement
  private readonly subscriptions = new Disposer()
  private readonly rows = new Map<string, Row>()

  constructor(private readonly handle: AutomergeHandle<TaskDoc>) {
    this.input = h('input', { class: 'task-input', type: 'text', placeholder: 'Add a task…', maxlength: 200, 'aria-label': 'New task', 'data-testid': 'task-input' })
    const form = h('form', { class: 'task-add' }, this.input, h('button', { class: 'button button-primary', type: 'submit' }, 'Add'))
    form.addEventListener('submit', (ev) => {
      ev.preventDefault()
      this.add()
    })
    this.el = h('section', { class: 'card tasks-card', 'aria-label': 'Tasks' }, h('header', { class: 'card-head' }, h('h2', {}, 'Tasks'), this.summary))
    this.el.append(form, this.list, this.empty)
    this.list.addEventListener('click', (ev) => this.onListClick(ev))
    this.list.addEventListener('change', (ev) => this.onListChange(ev))
    this.subscriptions.add(handle.on('change', () => this.render()))
    void handle.whenLoaded().then(() => this.render())
    this.render()
  }

  private add(): void {
    const title = this.input.value.trim()
    if (title === '') return
    const id = newTaskId()
    this.handle.change((d) => addTask(d, id, title))
    this.input.value = ''
  }

  private taskIdOf(target: EventTarget | null): string | null {
    const li = target instanceof Element ? target.closest<HTMLElement>('[data-task-id]') : null
    return li?.dataset.taskId ?? null
  }

  private onListClick(ev: Event): void {
    const button = ev.target instanceof Element ? ev.target.closest<HTMLButtonElement>('button[data-action]') : null
    const id = this.taskIdOf(ev.target)
    if (button === null || id === null) return
    const action = button.dataset.action
    if (action === 'up' || action === 'down') {
      this.handle.change((d) => moveTask(d, id, action === 'up' ? -1 : 1))
    } else if (action === 'delete') {
      this.handle.change((d) => deleteTask(d, id))
    }
  }

  private onListChange(ev: Event): void {
    const box = ev.target
    const id = this.taskIdOf(box)
    if (!(box instanceof HTMLInputElement) || id === null) return
    this.handle.change((d) => toggleTask(d, id, box.checked))
  }

  /**
   * Update the rows in place, keyed by task id: a row under the pointer or the keyboard is never
   * replaced by a remote change, so a click that lands while others edit still counts.
   */
  private render(): void {
    const tasks = sortedTasks(this.handle.doc())
    const done = tasks.filter((t) => t.done).length
    this.summary.textContent = tasks.length === 0 ? '' : `${done} of ${tasks.length} done`
    this.empty.hidden = tasks.length > 0
    const focused = document.activeElement
    const present = new Set<string>()
    tasks.forEach((t, i) => {
      present.add(t.id)
      let row = this.rows.get(t.id)
      if (row === undefined) {
        row = this.createRow(t.id)
        this.rows.set(t.id, row)
      }
      this.updateRow(row, t, i, tasks.length)
      const at = this.list.children[i]
      if (at !== row.li) this.list.insertBefore(row.li, at ?? null)
    })
    for (const [id, row] of this.rows) {
      if (present.has(id)) continue
      row.li.remove()
      this.rows.delete(id)
    }
    // Moving a row in the DOM takes the focus from it; give it back.
    if (focused instanceof HTMLElement && focused.isConnected && document.activeElement !== focused) focused.focus()
  }

  private createRow(id: string): Row {
    const box = h('input', { type: 'checkbox' })
    const title = h('span', { class: 'task-title' })
    const button = (action: keyof typeof icons, label: string, extra = ''): HTMLButtonElement =>
      h('button', { class: `icon-button ${extra}`.trim(), type: 'button', 'data-action': action, title: label }, icons[action])
    const up = button('up', 'Move up')
    const down = button('down', 'Move down')
    const remove = button('delete', 'Delete', 'danger')
    const li = h(
      'li',
      { class: 'task', 'data-task-id': id, 'data-testid': 'task' },
      h('label', { class: 'task-check' }, box, title),
      h('span', { class: 'task-actions' }, up, down, remove),
    )
    return { li, box, title, up, down, remove }
  }

  private updateRow(row: Row, t: TaskView, index: number, count: number): void {
    if (row.title.textContent !== t.title) row.title.textContent = t.title
    row.box.checked = t.done
    row.li.classList.toggle('is-done', t.done)
    row.box.setAttribute('aria-label', `Done: ${t.title}`)
    row.up.setAttribute('aria-label', `Move up: ${t.title}`)
    row.down.setAttribute('aria-label', `Move down: ${t.title}`)
    row.remove.setAttribute('aria-label', `Delete: ${t.title}`)
    row.up.disabled = index === 0
    row.down.disabled = index === count - 1
  }

  destroy(): void {
    this.subscriptions.dispose()
  }
}
