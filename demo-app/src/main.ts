import './styles.css'
import { Shell } from './shell.js'

const root = document.getElementById('app')
if (root === null) throw new Error('missing #app')
new Shell(root)

// The app shell is cached by a service worker, so the page itself loads without a network and the
// documents come from IndexedDB: a reload while offline keeps working.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  void navigator.serviceWorker.register('/sw.js').catch((err: unknown) => console.warn('murmur demo: no offline app shell', err))
}
