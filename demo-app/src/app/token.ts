/**
 * A node that checks tokens wants one in the hello and on `/v1/` requests. The demo has no login: open it
 * once as `…/?token=<jwt>` and it keeps the token for this tab (sessionStorage) and takes it out of the
 * address bar, so links copied from the page do not carry it.
 */
const KEY = 'murmur-demo:token'

export function accessToken(): string | null {
  const url = new URL(location.href)
  const given = url.searchParams.get('token')
  if (given !== null) {
    if (given === '') sessionStorage.removeItem(KEY)
    else sessionStorage.setItem(KEY, given)
    url.searchParams.delete('token')
    history.replaceState(history.state, '', url)
  }
  return sessionStorage.getItem(KEY)
}

/** Headers for a `/v1/` request. */
export function authHeaders(): Record<string, string> {
  // The first request may come before the session took the token out of the address bar.
  const token = accessToken()
  return token === null ? {} : { authorization: `Bearer ${token}` }
}
