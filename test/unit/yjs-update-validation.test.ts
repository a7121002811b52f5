import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { yjsEngine } from '@murmur/shared'

/**
 * Found by the endpoint fuzzer (seed 22): an item whose right origin is a later clock of its own client.
 * Yjs took it as pending, and a later update then failed half-way through integrating, leaving the doc
 * changed in memory but not in the log; the stored doc no longer loaded.
 */
const POINTS_AHEAD = Buffer.from('0101d6e1b2be020744d6e1b2be0220047731383200', 'hex')

describe('Yjs updates that refer ahead to their own client', () => {
  it('are refused before anything is applied', () => {
    expect(() => yjsEngine.validateUpdate(new Uint8Array(POINTS_AHEAD))).toThrow(/refers ahead/u)
    const doc = yjsEngine.create()
    const before = doc.version()
    expect(() => doc.applyUpdate(new Uint8Array(POINTS_AHEAD))).toThrow(expect.objectContaining({ code: 'MUR_ERR_INVALID_UPDATE' }))
    expect(doc.version()).toBe(before)
  })

  it('while every update a real Yjs doc makes passes', () => {
    const d = new Y.Doc()
    const updates: Uint8Array[] = []
    d.on('update', (u: Uint8Array) => updates.push(u))
    const t = d.getText('t')
    for (let i = 0; i < 200; i++) {
      if (i % 7 === 3 && t.length > 2) t.delete(1, 2)
      else t.insert(i % 3 === 0 ? 0 : t.length, `w${i}`)
      d.getMap('m').set(`k${i % 5}`, i)
      d.getArray('a').insert(0, [i])
    }
    for (const u of [...updates, Y.encodeStateAsUpdate(d)]) yjsEngine.validateUpdate(u)
    expect(yjsEngine.load(null, updates).toJSON()).toMatchObject({ t: t.toString() })
  })
})
