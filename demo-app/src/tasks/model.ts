/**
 * The task board's Automerge document. Each task sits at the root under its own id, so two people who
 * add their first tasks at once never race to create a shared container (a root map always exists; a
 * nested one made twice concurrently would keep only one side's tasks). Order is a number per task:
 * moving a task writes only that task's `order`, so concurrent moves and edits of other tasks merge.
 */
export interface Task {
  title: string
  done: boolean
  order: number
  /** ms since epoch; for display and as a stable tie-break. */
  created: number
}

export type TaskDoc = Record<string, Task>

export interface TaskView extends Task {
  readonly id: string
}

function isTask(v: unknown): v is Task {
  if (typeof v !== 'object' || v === null) return false
  const t = v as Partial<Task>
  return typeof t.title === 'string' && typeof t.done === 'boolean' && typeof t.order === 'number'
}

/** Tasks in board order; equal orders (concurrent adds) fall back to the id, so every replica agrees. */
export function sortedTasks(doc: TaskDoc): TaskView[] {
  const out: TaskView[] = []
  for (const [id, t] of Object.entries(doc)) {
    if (isTask(t)) out.push({ id, title: String(t.title), done: t.done, order: t.order, created: t.created ?? 0 })
  }
  return out.sort((a, b) => a.order - b.order || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

export function newTaskId(): string {
  const bytes = new Uint8Array(6)
  crypto.getRandomValues(bytes)
  return `task-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`
}

/** Append a task at the end. */
export function addTask(doc: TaskDoc, id: string, title: string, now = Date.now()): void {
  const tasks = sortedTasks(doc)
  const last = tasks.length > 0 ? tasks[tasks.length - 1].order : 0
  doc[id] = { title, done: false, order: last + 1, created: now }
}

export function toggleTask(doc: TaskDoc, id: string, done: boolean): void {
  const t = doc[id]
  if (isTask(t) && t.done !== done) t.done = done
}

export function deleteTask(doc: TaskDoc, id: string): void {
  if (id in doc) delete doc[id]
}

/**
 * Move a task one place up (-1) or down (+1): its order becomes the midpoint between the neighbour it
 * passes and the one beyond. When the numbers get too close to halve, renumber the whole board.
 */
export function moveTask(doc: TaskDoc, id: string, direction: -1 | 1): void {
  const tasks = sortedTasks(doc)
  const i = tasks.findIndex((t) => t.id === id)
  const j = i + direction
  if (i < 0 || j < 0 || j >= tasks.length) return
  const passed = tasks[j].order
  const beyond = tasks[j + direction]
  const next = beyond === undefined ? passed + direction : (passed + beyond.order) / 2
  if (next !== passed && (beyond === undefined || next !== beyond.order)) {
    doc[id].order = next
    return
  }
  const reordered = tasks.filter((t) => t.id !== id)
  reordered.splice(j, 0, tasks[i])
  reordered.forEach((t, k) => {
    if (doc[t.id].order !== k + 1) doc[t.id].order = k + 1
  })
}
