/* Version history for Automerge docs: a restore as a new forward change. */
import * as A from '@automerge/automerge/next'

type Root = Record<string, unknown>

const sameJSON = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * One Automerge change that, applied to the doc saved as `current`, makes its root the content of the
 * doc saved as `target`; text fields are edited in place (`updateText`), so unchanged runs keep their
 * history. Null when they already agree.
 */
export function restoreUpdate(current: Uint8Array, target: Uint8Array): Uint8Array | null {
  const now = A.load<Root>(current)
  const wanted = A.toJS(A.load<Root>(target))
  const next = A.change(now, { message: 'restore' }, (d) => {
    for (const key of Object.keys(d)) if (!(key in wanted)) delete d[key]
    for (const [key, value] of Object.entries(wanted)) {
      if (typeof value === 'string' && typeof d[key] === 'string') A.updateText(d, [key], value)
      else if (!sameJSON(d[key], value)) d[key] = structuredClone(value)
    }
  })
  return A.getLastLocalChange(next) ?? null
}
