/// <reference lib="webworker" />
/**
 * The demo's service worker: it keeps the built app (HTML, scripts, styles) in Cache Storage, so the page
 * loads with no network at all and the documents then come from IndexedDB. The sync socket and the HTTP
 * API never pass through it.
 *
 * `__MURMUR_PRECACHE__` is replaced at build time with the list of built files (see vite.config.ts).
 */
export {}
declare const self: ServiceWorkerGlobalScope
declare const __MURMUR_PRECACHE__: { readonly version: string; readonly files: readonly string[] }

const { version, files } = __MURMUR_PRECACHE__
const CACHE = `murmur-demo-${version}`
const APP_PAGE = '/index.html'
/** Paths served by the node itself, always from the network. */
const NODE_PATHS = /^\/(v1\/|sync|yjs\/|automerge|peer|healthz|readyz|metrics)/u

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE)
      await cache.addAll([APP_PAGE, ...files])
      await self.skipWaiting()
    })(),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith('murmur-demo-') && key !== CACHE) await caches.delete(key)
      await self.clients.claim()
    })(),
  )
})

self.addEventListener('fetch', (event) => {
  const req = event.request
  const url = new URL(req.url)
  if (req.method !== 'GET' || url.origin !== self.location.origin || NODE_PATHS.test(url.pathname)) return
  if (req.mode === 'navigate') {
    // Pages: the network first (a new build shows at once), the cached app when there is none.
    event.respondWith(
      fetch(req).catch(async () => (await caches.match(APP_PAGE, { cacheName: CACHE })) ?? Response.error()),
    )
    return
  }
  // Built files have content hashes in their names: the cache is always right for them.
  event.respondWith(
    (async () => {
      const cached = await caches.match(req, { cacheName: CACHE })
      if (cached !== undefined) return cached
      const res = await fetch(req)
      if (res.ok) {
        const copy = res.clone()
        void caches.open(CACHE).then((c) => c.put(req, copy))
      }
      return res
    })(),
  )
})
