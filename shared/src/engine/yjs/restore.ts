/*
 * Restoring a version of a Yjs doc as a new forward change: each root type is edited from what it holds
 * now into what it held then, keeping what both share (so its items, and their authors, stay), with its
 * formatting and structure: a text's attributes and embeds, a rich-text fragment's elements with every
 * attribute and the marks of their text.
 */
import * as Y from 'yjs'

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

/** JSON with object keys sorted, so that equal values give equal text whatever order they were set in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

const sameJSON = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b)

/** One unit of a rich text: a character (or an embed) with the attributes it carries. */
interface Unit {
  readonly insert: string | object
  readonly attributes: Record<string, unknown>
  /** Compares units: the content and the attributes. */
  readonly key: string
}

interface DeltaOp {
  insert?: unknown
  attributes?: Record<string, unknown>
}

/** A text's delta as units: one per UTF-16 unit of text, one per embed. */
function unitsOf(text: Y.Text): Unit[] {
  const units: Unit[] = []
  for (const op of text.toDelta() as DeltaOp[]) {
    const attributes = op.attributes ?? {}
    const attrKey = canonical(attributes)
    if (typeof op.insert === 'string') {
      for (const ch of op.insert.split('')) units.push({ insert: ch, attributes, key: `s${ch}${attrKey}` })
    } else if (op.insert !== undefined) {
      // An embed; a nested type (rare in a text) comes back as its JSON.
      const embed = op.insert instanceof Y.AbstractType ? (op.insert as Y.AbstractType<unknown>).toJSON() : op.insert
      units.push({ insert: embed as object, attributes, key: `e${canonical(embed)}${attrKey}` })
    }
  }
  return units
}

/** How many leading and trailing items two lists share (by `same`), not overlapping. */
function commonEnds<T>(a: readonly T[], b: readonly T[], same: (x: T, y: T) => boolean): { start: number; end: number } {
  let start = 0
  while (start < a.length && start < b.length && same(a[start], b[start])) start++
  let end = 0
  while (end < a.length - start && end < b.length - start && same(a[a.length - 1 - end], b[b.length - 1 - end])) end++
  return { start, end }
}

const codeOf = (unit: Unit): number => (typeof unit.insert === 'string' ? unit.insert.charCodeAt(0) : 0)
const isHighSurrogate = (unit: Unit): boolean => codeOf(unit) >= 0xd800 && codeOf(unit) <= 0xdbff
const isLowSurrogate = (unit: Unit): boolean => codeOf(unit) >= 0xdc00 && codeOf(unit) <= 0xdfff

/** Turn the text into `wanted`'s content and formatting, keeping the common prefix and suffix. */
function restoreText(text: Y.Text, wanted: Y.Text | null): void {
  const now = unitsOf(text)
  const want = wanted === null ? [] : unitsOf(wanted)
  let { start, end } = commonEnds(now, want, (x, y) => x.key === y.key)
  // Never between the two halves of a surrogate pair: Yjs would replace a split pair with U+FFFD.
  if (start > 0 && isHighSurrogate(now[start - 1])) start--
  if (end > 0 && isLowSurrogate(now[now.length - end])) end--
  if (now.length - start - end > 0) text.delete(start, now.length - start - end)
  let at = start
  // Runs of characters with equal attributes go in as one insert; every insert names all its attributes
  // (those it does not have are set to null), so none is inherited from the text before it.
  const middle = want.slice(start, want.length - end)
  for (let i = 0; i < middle.length; ) {
    const unit = middle[i]
    if (typeof unit.insert !== 'string') {
      text.insertEmbed(at++, unit.insert, { ...unit.attributes })
      i++
      continue
    }
    let run = ''
    const attrKey = canonical(unit.attributes)
    while (i < middle.length && typeof middle[i].insert === 'string' && canonical(middle[i].attributes) === attrKey) run += middle[i++].insert as string
    text.insert(at, run, { ...unit.attributes })
    at += run.length
  }
}

type XmlNode = Y.XmlElement | Y.XmlText

/** A node's content, attributes and marks as text, for finding the nodes two fragments share. */
function nodeKey(node: XmlNode): string {
  if (node instanceof Y.XmlText) return `t${canonical(node.toDelta())}`
  return `e${canonical([node.nodeName, node.getAttributes(), node.toArray().map((child) => (child instanceof Y.XmlElement || child instanceof Y.XmlText ? nodeKey(child) : null))])}`
}

/** A new node like `node`: its name, every attribute (whatever its type), its children, its text's marks. */
function copyNode(node: XmlNode): XmlNode {
  if (node instanceof Y.XmlText) {
    const text = new Y.XmlText()
    text.applyDelta(node.toDelta())
    return text
  }
  const element = new Y.XmlElement(node.nodeName)
  for (const [key, value] of Object.entries(node.getAttributes())) element.setAttribute(key, value as string)
  element.insert(0, childNodes(node).map(copyNode))
  return element
}

function childNodes(parent: Y.XmlFragment | Y.XmlElement): XmlNode[] {
  return parent.toArray().filter((n): n is XmlNode => n instanceof Y.XmlElement || n instanceof Y.XmlText)
}

/** Turn a rich-text fragment (ProseMirror, TipTap) into `wanted`'s nodes: the nodes both share at either end stay. */
function restoreFragment(fragment: Y.XmlFragment, wanted: Y.XmlFragment | null): void {
  const now = childNodes(fragment)
  const want = wanted === null ? [] : childNodes(wanted)
  const { start, end } = commonEnds(now.map(nodeKey), want.map(nodeKey), (x, y) => x === y)
  if (now.length - start - end > 0) fragment.delete(start, now.length - start - end)
  const middle = want.slice(start, want.length - end)
  if (middle.length > 0) fragment.insert(start, middle.map(copyNode))
}

function restoreRoot(doc: Y.Doc, old: Y.Doc, name: string): void {
  const kind = kindOf(old, name) ?? kindOf(doc, name)
  const had = old.share.has(name)
  if (kind === 'text') restoreText(doc.getText(name), had ? old.getText(name) : null)
  else if (kind === 'xml') restoreFragment(doc.getXmlFragment(name), had ? old.getXmlFragment(name) : null)
  else if (kind === 'map') {
    const map = doc.getMap(name)
    const wanted = had ? old.getMap(name).toJSON() : {}
    for (const key of [...map.keys()]) if (!(key in wanted)) map.delete(key)
    for (const [key, value] of Object.entries(wanted)) if (!sameJSON(plain(map.get(key)), value)) map.set(key, value)
  } else if (kind === 'array') {
    const array = doc.getArray(name)
    const wanted: unknown[] = had ? old.getArray(name).toJSON() : []
    if (!sameJSON(array.toJSON(), wanted)) {
      array.delete(0, array.length)
      array.insert(0, wanted)
    }
  }
}

/**
 * A Yjs update that, applied to the doc whose state is `current`, makes its content that of `target`:
 * texts with their formatting and embeds, rich-text fragments with their elements, attributes and
 * marks, maps and arrays at the root (nested types in those come back as plain values). Null when they
 * already agree. Everything that happened stays in the doc's history: this is a new change on top of it.
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
