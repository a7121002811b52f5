const KEY = 'murmur-react-todo:offline'

/** "Work offline" is kept across reloads, so a reload while offline stays offline. */
export function workOfflinePreference(): boolean {
  return localStorage.getItem(KEY) === '1'
}

export function saveWorkOffline(offline: boolean): void {
  if (offline) localStorage.setItem(KEY, '1')
  else localStorage.removeItem(KEY)
}
