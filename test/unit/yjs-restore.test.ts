/**
 * Restoring a version of a Yjs doc keeps its formatting and structure: a Y.Text's attributes and embeds,
 * a rich-text Y.XmlFragment's elements (with attributes of any type) and the marks of their text. What
 * the version and the doc share keeps its items (and so its authors).
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { yjsEngine } from '@murmur/shared'

/** Apply the restore of `version` to `doc` (what the server does), returning whether anything changed. */
function restore(doc: Y.Doc, version: Uint8Array): boolean {
  const update = yjsEngine.restoreUpdate!(Y.encodeStateAsUpdate(doc), version)
  if (update !== null) Y.applyUpdate(doc, update)
  return update !== null
}

/** The root text `t` as a server sees it: a doc loaded from bytes, which does not know its types. */
function loaded(state: Uint8Array): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  return doc
}

describe('Yjs restore', () => {
  it('gives a Y.Text back its attributes and embeds, and a change of formatting alone is restored too', () => {
    const doc = new Y.Doc()
    const t = doc.getText('t')
    t.insert(0, 'Hello bold world', {})
    t.format(6, 4, { bold: true })
    t.insertEmbed(5, { image: 'a.png' }, { width: 20 })
    t.format(0, 5, { link: { href: 'https://example.com', title: 'x' } })
    const version = Y.encodeStateAsUpdate(doc)
    const wanted = t.toDelta()

    // Edits of the content and of the formatting.
    t.delete(0, 2)
    t.insert(3, 'XYZ', { italic: true })
    t.format(0, t.length, { bold: null, link: null })
    t.insert(t.length, '!', { bold: true })
    expect(restore(doc, version)).toBe(true)
    expect(t.toDelta()).toEqual(wanted)
    expect(loaded(Y.encodeStateAsUpdate(doc)).getText('t').toDelta()).toEqual(wanted)

    // Formatting changed, the characters did not.
    t.format(0, t.length, { bold: true })
    expect(t.toString()).toBe(loaded(version).getText('t').toString())
    expect(restore(doc, version)).toBe(true)
    expect(t.toDelta()).toEqual(wanted)
    expect(restore(doc, version)).toBe(false)
  })

  it('keeps the characters a version shares with the doc (their items stay), and never splits a surrogate pair', () => {
    const doc = new Y.Doc()
    const t = doc.getText('t')
    t.insert(0, 'keep 😀 this')
    const version = Y.encodeStateAsUpdate(doc)
    t.delete(5, 2)
    t.insert(5, '😃')
    const before = Y.encodeStateVector(doc)
    expect(restore(doc, version)).toBe(true)
    expect(t.toString()).toBe('keep 😀 this')
    // Only what differed was written anew: the update inserts two UTF-16 units.
    const { from, to } = Y.parseUpdateMeta(Y.encodeStateAsUpdate(doc, before))
    const inserted = [...to].reduce((n, [client, clock]) => n + clock - (from.get(client) ?? clock), 0)
    expect(inserted).toBe(2)
  })

  it('rebuilds a rich-text fragment: elements with attributes of any type, nested nodes, marks; shared nodes stay', () => {
    const doc = new Y.Doc()
    const f = doc.getXmlFragment('default')
    const heading = new Y.XmlElement('heading')
    heading.setAttribute('level', 2 as unknown as string)
    const title = new Y.XmlText()
    heading.insert(0, [title])
    const para = new Y.XmlElement('paragraph')
    para.setAttribute('textAlign', 'center')
    const body = new Y.XmlText()
    para.insert(0, [body])
    const list = new Y.XmlElement('bulletList')
    const item = new Y.XmlElement('listItem')
    const itemPara = new Y.XmlElement('paragraph')
    const itemText = new Y.XmlText()
    itemPara.insert(0, [itemText])
    item.insert(0, [itemPara])
    list.insert(0, [item])
    const intro = new Y.XmlElement('paragraph')
    intro.insert(0, [new Y.XmlText('untouched')])
    f.insert(0, [intro, heading, para, list])
    title.insert(0, 'Title')
    body.insert(0, 'Some bold and linked text')
    body.format(5, 4, { bold: {} })
    body.format(14, 6, { link: { href: 'https://example.com' } })
    itemText.insert(0, 'an item', { italic: {} })
    const version = Y.encodeStateAsUpdate(doc)
    const wanted = f.toJSON()
    const wantedDelta = body.toDelta()

    // The heading loses its level, the paragraph its marks, the list goes, a paragraph comes.
    heading.setAttribute('level', 1 as unknown as string)
    body.format(0, body.length, { bold: null, link: null })
    f.delete(3, 1)
    const extra = new Y.XmlElement('paragraph')
    extra.insert(0, [new Y.XmlText('added')])
    f.insert(3, [extra])
    expect(restore(doc, version)).toBe(true)
    expect(f.toJSON()).toEqual(wanted)
    // The node both share is the same item as before: only what differed was rebuilt.
    expect(f.get(0)).toBe(intro)

    const again = loaded(Y.encodeStateAsUpdate(doc)).getXmlFragment('default')
    expect(again.toJSON()).toEqual(wanted)
    const [, h, p, l] = again.toArray() as Y.XmlElement[]
    expect(h.getAttribute('level')).toBe(2)
    expect(p.getAttribute('textAlign')).toBe('center')
    expect((p.get(0) as Y.XmlText).toDelta()).toEqual(wantedDelta)
    expect(((l.get(0) as Y.XmlElement).get(0) as Y.XmlElement).get(0)).toBeInstanceOf(Y.XmlText)
    expect((((l.get(0) as Y.XmlElement).get(0) as Y.XmlElement).get(0) as Y.XmlText).toDelta()).toEqual([{ insert: 'an item', attributes: { italic: {} } }])
    expect(restore(doc, version)).toBe(false)
  })
})
