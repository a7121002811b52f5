import type { TextDiff, TextOp } from '@murmur/shared'

/**
 * The edit from `a` to `b` as keep / remove / add runs: the common prefix and the common suffix are
 * kept, and what lies between is removed and added (one changed region, which is what a preview shows).
 */
export function textDiff(a: string, b: string): TextDiff {
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let end = 0
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++
  const ops: TextOp[] = []
  if (start > 0) ops.push({ retain: a.slice(0, start) })
  const removed = a.slice(start, a.length - end)
  const added = b.slice(start, b.length - end)
  if (removed.length > 0) ops.push({ delete: removed })
  if (added.length > 0) ops.push({ insert: added })
  if (end > 0) ops.push({ retain: a.slice(a.length - end) })
  return ops
}
