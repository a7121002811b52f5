import { useEffect, useState, type FormEvent } from 'react'
import { usePresence, useMurmurClient, useSyncStatus, useYjsDoc, useYjsValue } from '@murmur/react'
import { addTodo, readTodos, removeTodo, toggleTodo } from './todos.js'
import { saveWorkOffline, workOfflinePreference } from './offline.js'

interface Person extends Record<string, unknown> {
  readonly name: string
}

const STATUS_TEXT = { offline: 'Offline: kept on this device', syncing: 'Syncing…', saved: 'Saved on the server' } as const

/** A shared todo list: everyone with the page open sees the same list, online or not. */
export function TodoApp({ docId }: { docId: string }) {
  // Suspends until the list stored on this device is read, so the first render shows it.
  const list = useYjsDoc(docId, { suspense: true })
  const todos = useYjsValue(list, readTodos)
  return (
    <main>
      <header>
        <h1>Todos</h1>
        <SyncBadge docId={docId} />
        <OfflineSwitch />
        <People docId={docId} />
      </header>
      <NewTodo onAdd={(title) => addTodo(list.doc, title)} />
      <ul data-testid="todos">
        {todos.map((todo) => (
          <li key={todo.id} data-testid="todo" data-done={todo.done}>
            <label>
              <input type="checkbox" checked={todo.done} onChange={() => toggleTodo(list.doc, todo.id)} />
              <span className="title">{todo.title}</span>
            </label>
            <button type="button" aria-label={`Remove ${todo.title}`} onClick={() => removeTodo(list.doc, todo.id)}>
              ×
            </button>
          </li>
        ))}
      </ul>
    </main>
  )
}

function NewTodo({ onAdd }: { onAdd: (title: string) => void }) {
  const [title, setTitle] = useState('')
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (title.trim() === '') return
    onAdd(title.trim())
    setTitle('')
  }
  return (
    <form onSubmit={submit}>
      <input data-testid="new-todo" aria-label="New todo" placeholder="What needs doing?" value={title} onChange={(e) => setTitle(e.target.value)} />
      <button type="submit">Add</button>
    </form>
  )
}

function SyncBadge({ docId }: { docId: string }) {
  const { status, unsaved } = useSyncStatus(useYjsDoc(docId))
  return (
    <p data-testid="status" data-status={status} data-unsaved={unsaved}>
      {STATUS_TEXT[status]}
      {unsaved > 0 ? ` (${unsaved} unsaved)` : ''}
    </p>
  )
}

function OfflineSwitch() {
  const client = useMurmurClient()
  const [offline, setOffline] = useState(workOfflinePreference)
  return (
    <label>
      <input
        type="checkbox"
        data-testid="work-offline"
        checked={offline}
        onChange={(e) => {
          setOffline(e.target.checked)
          saveWorkOffline(e.target.checked)
          client.setOnline(!e.target.checked)
        }}
      />
      Work offline
    </label>
  )
}

function People({ docId }: { docId: string }) {
  const presence = usePresence<Person>(useYjsDoc(docId))
  const { setSelf } = presence
  useEffect(() => {
    setSelf({ name: sessionStorage.getItem('murmur-react-todo:name') ?? 'Someone' })
  }, [setSelf])
  return (
    <p data-testid="people" data-count={presence.others.length}>
      {presence.others.length === 0 ? 'Only you here' : `Also here: ${presence.others.map((p) => p.state.name).join(', ')}`}
    </p>
  )
}
