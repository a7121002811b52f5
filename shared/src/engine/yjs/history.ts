/*
 * Version history for Yjs docs: what an update inserted (its id ranges, recorded beside it so that
 * attribution survives compaction), a restore as a new forward change, and who wrote each span of a text.
 */
import * as Y from 'yjs'

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

type RootKind = 'text' | 'map' | 'array' | 'xml'

/** What a root type holds, read off its items (a loaded doc does not know the types it was written with). */
function kindOf(doc: Y.Doc, name: string): RootKind | null {
  const type = doc.share.get(name)
  if (type === undefined) return null
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.XmlFragment) return 'xml'
  if (type._map.size > 0) return 'map'
  for (let item = type._start; item !== null; item = item.right) {
    if (item.content instanceof Y.ContentString || item.content instanceof Y.ContentFormat || item.content instanceof Y.ContentEmbed) return 'text'
    if (item.content instanceof Y.ContentType && (item.content.type instanceof Y.XmlElement || item.content.type instanceof Y.XmlText)) return 'xml'
    if (!item.deleted) return 'array'
  }
  return null
}

const plain = (value: unknown): unknown => (value instanceof Y.AbstractType ? (value as Y.AbstractType<unknown>).toJSON() : value)

const sameJSON = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Turn the text into `wanted` keeping the common prefix and suffix (their authors stay). */
function restoreText(text: Y.Text, wanted: string): void {
  const now = text.toString()
  if (now === wanted) return
  let start = 0
  while (start < now.length && start < wanted.length && now[start] === wanted[start]) start++
  let end = 0
  while (end < now.length - start && end < wanted.length - start && now[now.length - 1 - end] === wanted[wanted.length - 1 - end]) end++
  if (now.length - start - end > 0) text.delete(start, now.length - start - end)
  if (wanted.length - start - end > 0) text.insert(start, wanted.slice(start, wanted.length - end))
}

function restoreRoot(doc: Y.Doc, old: Y.Doc, name: string): void {
  const kind = kindOf(old, name) ?? kindOf(doc, name)
  if (kind === 'text') restoreText(doc.getText(name), old.share.has(name) ? old.getText(name).toString() : '')
  else if (kind === 'map') {
    const map = doc.getMap(name)
    const wanted = old.share.has(name) ? old.getMap(name).toJSON() : {}
    for (const key of [...map.keys()]) if (!(key in wanted)) map.delete(key)
    for (const [key, value] of Object.entries(wanted)) if (!sameJSON(plain(map.get(key)), value)) map.set(key, value)
  } else if (kind === 'xml') {
    // A rich-text fragment (ProseMirror, TipTap): its nodes are replaced by copies of the version's.
    const fragment = doc.getXmlFragment(name)
    const wanted = old.share.has(name) ? old.getXmlFragment(name) : null
    if (fragment.toString() !== (wanted?.toString() ?? '')) {
      fragment.delete(0, fragment.length)
      if (wanted !== null) {
        const nodes = wanted.toArray().map((node) => node.clone())
        fragment.insert(0, nodes.filter((n): n is Y.XmlElement | Y.XmlText => n instanceof Y.XmlElement || n instanceof Y.XmlText))
      }
    }
  } else if (kind === 'array') {
    const array = doc.getArray(name)
    const wanted: unknown[] = old.share.has(name) ? old.getArray(name).toJSON() : []
    if (!sameJSON(array.toJSON(), wanted)) {
      array.delete(0, array.length)
      array.insert(0, wanted)
    }
  }
}

/**
 * A Yjs update that, applied to the doc whose state is `current`, makes its content that of `target`
 * (texts, maps and arrays at the root; nested types come back as plain values). Null when they already
 * agree. Everything that happened stays in the doc's history: this is a new change on top of it.
 */
export function restoreUpdate(current: Uint8Array, target: Uint8Array): Uint8Array | null {
  const doc = new Y.Doc()
  const old = new Y.Doc()
  try {
    Y.applyUpdate(doc, current)
    Y.applyUpdate(old, target)
    const before = Y.encodeStateVector(doc)
    let changed = false
    // Yjs emits 'update' only for a transaction that inserted or deleted something.
    doc.on('update', () => {
      changed = true
    })
    doc.transact(() => {
      for (const name of new Set([...doc.share.keys(), ...old.share.keys()])) restoreRoot(doc, old, name)
    })
    return changed ? Y.encodeStateAsUpdate(doc, before) : null
  } finally {
    doc.destroy()
    old.destroy()
  }
}

/** A run of text written by one principal (null: unknown, e.g. stored before attribution was kept). */
export interface AuthoredSpan {
  readonly text: string
  readonly principal: string | null
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
