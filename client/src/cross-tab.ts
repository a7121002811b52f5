/**
 * Tabs of one origin share one IndexedDB store; BroadcastChannel carries each tab's local edits to the
 * others at once, so a second tab sees the first tab's offline edits without a server.
 */
export function openTabChannel(
  docKey: string,
  onUpdate: (update: Uint8Array) => void,
  cleanups: (() => void)[],
): (update: Uint8Array) => void {
  const channel = new BroadcastChannel(`murmur:${docKey}`)
  channel.onmessage = (ev: MessageEvent<unknown>) => {
    if (ev.data instanceof Uint8Array) onUpdate(ev.data)
  }
  cleanups.push(() => channel.close())
  return (update) => channel.postMessage(update)
}
