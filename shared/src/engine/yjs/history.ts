/*
 * Version history for Yjs docs: what an update inserted (its id ranges, recorded beside it so that
 * attribution survives compaction), and who wrote each span of a text. A restore is in restore.ts.
 */
import * as Y from 'yjs'
import type { AuthoredSpan } from '../../versions.js'

/** One id range an update inserted: items of `client` with clocks in [from, to). */
export type IdRange = readonly [client: number, from: number, to: number]

/** The id ranges `update` carries, as JSON text (`[[client, from, to], ...]`), or null when it inserts nothing. */
export function insertedIds(update: Uint8Array): string | null {
  const { from, to } = Y.parseUpdateMeta(update)
  const ranges: IdRange[] = []
  for (const [client, start] of from) {
    const end = to.get(client) ?? start
    if (end > start) ranges.push([client, start, end])
  }
  return ranges.length === 0 ? null : JSON.stringify(ranges)
}

/** Reads back `insertedIds`; anything else is no ranges. */
export function parseIdRanges(text: string | null): IdRange[] {
  if (text === null) return []
  try {
    const value: unknown = JSON.parse(text)
    if (!Array.isArray(value)) return []
    return value.filter((r): r is IdRange => Array.isArray(r) && r.length === 3 && r.every((n) => Number.isSafeInteger(n)))
  } catch {
    return []
  }
}

/**
 * Who wrote each span of the root text `field` of the doc `state`, by the item ids: `ownerOf` names the
 * principal whose stored update inserted an id.
 */
export function textAuthors(state: Uint8Array, field: string, ownerOf: (client: number, clock: number) => string | null): AuthoredSpan[] {
  const doc = new Y.Doc()
  try {
    Y.applyUpdate(doc, state)
    const spans: { text: string; principal: string | null }[] = []
    for (let item = doc.getText(field)._start; item !== null; item = item.right) {
      if (item.deleted || !(item.content instanceof Y.ContentString)) continue
      const str = item.content.str
      for (let i = 0; i < str.length; i++) {
        const principal = ownerOf(item.id.client, item.id.clock + i)
        const last = spans.at(-1)
        if (last !== undefined && last.principal === principal) last.text += str[i]
        else spans.push({ text: str[i], principal })
      }
    }
    return spans
  } finally {
    doc.destroy()
  }
}

/** `textAuthors` with the owner of each id looked up in change records (`insertedIds` with a principal). */
export function textAuthorsOf(state: Uint8Array, field: string, records: readonly { principal: string | null; ids: string | null }[]): AuthoredSpan[] {
  const byClient = new Map<number, { from: number; to: number; principal: string | null }[]>()
  for (const record of records) {
    for (const [client, from, to] of parseIdRanges(record.ids)) {
      let list = byClient.get(client)
      if (list === undefined) byClient.set(client, (list = []))
      list.push({ from, to, principal: record.principal })
    }
  }
  for (const list of byClient.values()) list.sort((a, b) => a.from - b.from)
  return textAuthors(state, field, (client, clock) => {
    const list = byClient.get(client)
    if (list === undefined) return null
    // The last range starting at or before `clock`; a later update re-sending ids keeps the first owner.
    let lo = 0
    let hi = list.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (list[mid].from <= clock) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    for (let i = found; i >= 0 && i > found - 64; i--) if (list[i].from <= clock && clock < list[i].to) return list[i].principal
    return null
  })
}
