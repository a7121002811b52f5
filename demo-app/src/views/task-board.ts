import type { AutomergeDocHandle } from '../app/handles.js'
import { addTask, deleteTask, moveTask, newTaskId, sortedTasks, toggleTask, type TaskDoc, type TaskView } from '../tasks/model.js'
import { Disposer, h, replaceChildren, type View } from './dom.js'

const icons = {
  up: '↑',
  down: '↓',
  remove: '×',
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

  constructor(private readonly handle: AutomergeDocHandle<TaskDoc> | null) {
    this.input = h('input', { class: 'task-input', type: 'text', placeholder: 'Add a task…', maxlength: 200, 'aria-label': 'New task', 'data-testid': 'task-input' })
    const form = h('form', { class: 'task-add' }, this.input, h('button', { class: 'button button-primary', type: 'submit' }, 'Add'))
    form.addEventListener('submit', (ev) => {
      ev.preventDefault()
      this.add()
    })
    this.el = h('section', { class: 'card tasks-card', 'aria-label': 'Tasks' }, h('header', { class: 'card-head' }, h('h2', {}, 'Tasks'), this.summary))
    if (handle === null) {
      this.el.append(h('p', { class: 'task-empty' }, 'The task board needs the Automerge engine, which this build of the SDK does not include.'))
      return
    }
    this.el.append(form, this.list, this.empty)
    this.list.addEventListener('click', (ev) => this.onListClick(ev))
    this.list.addEventListener('change', (ev) => this.onListChange(ev))
    this.subscriptions.add(handle.on('change', () => this.render()))
    void handle.whenLoaded().then(() => this.render())
    this.render()
  }

  private add(): void {
    const title = this.input.value.trim()
    if (title === '' || this.handle === null) return
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
    if (button === null || id === null || this.handle === null) return
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
    if (!(box instanceof HTMLInputElement) || id === null || this.handle === null) return
    this.handle.change((d) => toggleTask(d, id, box.checked))
  }

  private render(): void {
    if (this.handle === null) return
    const tasks = sortedTasks(this.handle.doc() ?? {})
    const done = tasks.filter((t) => t.done).length
    this.summary.textContent = tasks.length === 0 ? '' : `${done} of ${tasks.length} done`
    this.empty.hidden = tasks.length > 0
    // Re-rendering replaces the rows; keep the keyboard on the same control of the same task.
    const focused = document.activeElement instanceof HTMLElement && this.list.contains(document.activeElement) ? document.activeElement : null
    const focusKey = focused === null ? null : { id: this.taskIdOf(focused), action: focused.dataset.action ?? 'check' }
    replaceChildren(this.list, ...tasks.map((t, i) => this.row(t, i, tasks.length)))
    if (focusKey?.id != null) {
      const sel = focusKey.action === 'check' ? 'input' : `[data-action="${focusKey.action}"]`
      this.list.querySelector<HTMLElement>(`[data-task-id="${CSS.escape(focusKey.id)}"] ${sel}`)?.focus()
    }
  }

  private row(t: TaskView, index: number, count: number): HTMLElement {
    const box = h('input', { type: 'checkbox', 'aria-label': `Done: ${t.title}` })
    box.checked = t.done
    return h(
      'li',
      { class: t.done ? 'task is-done' : 'task', 'data-task-id': t.id, 'data-testid': 'task' },
      h('label', { class: 'task-check' }, box, h('span', { class: 'task-title' }, t.title)),
      h(
        'span',
        { class: 'task-actions' },
        h('button', { class: 'icon-button', type: 'button', 'data-action': 'up', 'aria-label': `Move up: ${t.title}`, title: 'Move up', disabled: index === 0 }, icons.up),
        h('button', { class: 'icon-button', type: 'button', 'data-action': 'down', 'aria-label': `Move down: ${t.title}`, title: 'Move down', disabled: index === count - 1 }, icons.down),
        h('button', { class: 'icon-button danger', type: 'button', 'data-action': 'delete', 'aria-label': `Delete: ${t.title}`, title: 'Delete' }, icons.remove),
      ),
    )
  }

  destroy(): void {
    this.subscriptions.dispose()
  }
}
