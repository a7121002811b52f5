/**
 * The open document lives in the URL hash (`#/doc/<id>`), so a link opens the same document in another
 * browser, and the page works from any static host and from every node of a cluster.
 */
export type Route = { readonly kind: 'home' } | { readonly kind: 'doc'; readonly docId: string }

export function currentRoute(): Route {
  const m = /^#\/doc\/(.+)$/u.exec(location.hash)
  if (m === null) return { kind: 'home' }
  try {
    return { kind: 'doc', docId: decodeURIComponent(m[1]) }
  } catch {
    return { kind: 'home' }
  }
}

export function docHref(docId: string): string {
  return `#/doc/${encodeURIComponent(docId)}`
}

export function openDoc(docId: string): void {
  location.hash = docHref(docId).slice(1)
}

export function onRouteChange(listener: (route: Route) => void): () => void {
  const fn = (): void => listener(currentRoute())
  window.addEventListener('hashchange', fn)
  return () => window.removeEventListener('hashchange', fn)
}

/** A short random id for a new document. */
export function newDocId(): string {
  const bytes = new Uint8Array(6)
  crypto.getRandomValues(bytes)
  return `doc-${[...bytes].map((b) => b.toString(36).padStart(2, '0')).join('').slice(0, 10)}`
}
