/**
 * Waiting on events. A timeout only bounds a wait; it never stands in for the event itself.
 */

/** Reject with a clear message when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const signal = AbortSignal.timeout(ms)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`timed out after ${ms} ms waiting for ${what}`))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/**
 * Resolve once `check()` is true, re-checking whenever `subscribe` reports a change.
 * `subscribe` returns its unsubscribe function.
 */
export function until(
  check: () => boolean,
  subscribe: (onChange: () => void) => () => void,
  ms: number,
  what: string,
): Promise<void> {
  if (check()) return Promise.resolve()
  let off: () => void = () => undefined
  const done = new Promise<void>((resolve) => {
    off = subscribe(() => {
      if (check()) resolve()
    })
  })
  return within(done, ms, what).finally(() => off())
}

/** Subscribe helper for anything with on/off (Y.Doc, Awareness, providers). */
export function onEvent(
  target: { on(name: string, fn: (...args: never[]) => void): unknown; off(name: string, fn: (...args: never[]) => void): unknown },
  name: string,
): (cb: () => void) => () => void {
  return (cb) => {
    const fn = (): void => cb()
    target.on(name, fn)
    return () => target.off(name, fn)
  }
}

/** Resolve with the first event of `name` on a Node EventEmitter-like target. */
export function once<T = unknown>(target: { once(name: string, fn: (...args: T[]) => void): unknown }, name: string): Promise<T[]> {
  return new Promise((resolve) => {
    target.once(name, (...args: T[]) => resolve(args))
  })
}

/**
 * Re-check state that lives in another process (which offers no event to wait on) with a growing
 * pause, until `check` holds or `ms` passed. The only polling wait in the tests; every in-process
 * wait uses `until` on real events.
 */
export async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  let pause = 25
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise<void>((resolve) => AbortSignal.timeout(pause).addEventListener('abort', () => resolve(), { once: true }))
    pause = Math.min(pause * 2, 500)
  }
}
