import { StrictMode, Suspense } from 'react'
import { createRoot } from 'react-dom/client'
import { createClient } from '@murmur/client'
import { MurmurProvider } from '@murmur/react'
import { TodoApp } from './todo-app.js'
import { workOfflinePreference } from './offline.js'

// The node that served the page, unless `?server=` names another.
const server = new URL(location.href).searchParams.get('server') ?? location.origin
// Docs are kept in IndexedDB: edits made offline survive a reload and are sent once back online.
const client = createClient({ url: server, offline: workOfflinePreference() })
const docId = new URL(location.href).searchParams.get('list') ?? 'todos'

const root = document.getElementById('root')
if (root === null) throw new Error('no #root element')
createRoot(root).render(
  <StrictMode>
    <MurmurProvider client={client}>
      <Suspense fallback={<p>Loading the list…</p>}>
        <TodoApp docId={docId} />
      </Suspense>
    </MurmurProvider>
  </StrictMode>,
)
