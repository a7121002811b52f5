import type { YjsHandle } from '@murmur/client'

export interface Todo {
  readonly id: string
  readonly title: string
  readonly done: boolean
  /** When it was added (ms since epoch): the list's order. */
  readonly at: number
}

type YDoc = YjsHandle['doc']

/** The list lives in one Y.Map, todo id → todo: adds and toggles by different people merge. */
const todosOf = (doc: YDoc) => doc.getMap<Todo>('todos')

export function readTodos(doc: YDoc): Todo[] {
  return [...todosOf(doc).values()].sort((a, b) => a.at - b.at || a.id.localeCompare(b.id))
}

export function addTodo(doc: YDoc, title: string): void {
  const id = crypto.randomUUID()
  todosOf(doc).set(id, { id, title, done: false, at: Date.now() })
}

export function toggleTodo(doc: YDoc, id: string): void {
  const todo = todosOf(doc).get(id)
  if (todo !== undefined) todosOf(doc).set(id, { ...todo, done: !todo.done })
}

export function removeTodo(doc: YDoc, id: string): void {
  todosOf(doc).delete(id)
}
