/**
 * The revocation list nodes keep and exchange: entries merge by time (the later decision about a token
 * wins, a revocation wins a tie), lifts are remembered so a node that missed one learns it, expiries end
 * revocations by themselves, and the file keeps what the node decided.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Revocations, type RevocationEntry } from '../../server/dist/auth/revocations.js'
import { tempDir } from '../support/servers.js'

function list(file: string | null = null, mustExist = false): Revocations {
  const r = new Revocations(file === null ? null : { path: file, mustExist }, () => undefined)
  onTestFinished(() => r.close())
  return r
}

const alice = { tokenId: null, subject: 'alice' }

describe('revocations', () => {
  it('merges by time: the later decision wins whatever the order, a revocation wins a tie', () => {
    const revoke: RevocationEntry = { kind: 'sub', value: 'alice', at: 100, expiresAt: null, lifted: false }
    const lift: RevocationEntry = { ...revoke, at: 200, lifted: true }
    const a = list()
    const b = list()
    a.merge([revoke, lift])
    b.merge([lift])
    b.merge([revoke])
    for (const r of [a, b]) expect(r.isRevoked(alice)).toBe(false)
    const tie = list()
    tie.merge([{ ...lift, at: 300 }, { ...revoke, at: 300 }])
    expect(tie.isRevoked(alice)).toBe(true)
    tie.merge([{ ...lift, at: 300 }])
    expect(tie.isRevoked(alice)).toBe(true)
  })

  it('tells watchers of a revocation merged from elsewhere, and hears its own decisions as changes', () => {
    const r = list()
    const closed: string[] = []
    r.watch(alice, () => closed.push('alice'))
    r.watch({ tokenId: 't-1', subject: 'bob' }, () => closed.push('t-1'))
    const changes: RevocationEntry[][] = []
    r.on('changed', (e) => changes.push(e))
    r.merge([{ kind: 'sub', value: 'alice', at: 1, expiresAt: null, lifted: false }])
    expect(closed).toEqual(['alice'])
    const entry = r.revoke('jti', 't-1', null)
    expect(closed).toEqual(['alice', 't-1'])
    expect(changes.map((c) => c.map((e) => e.value))).toEqual([['alice'], ['t-1']])
    // A decision made here is later than what the node knew, so a lift right after it is not lost.
    expect(r.lift('jti', 't-1')).toBe(true)
    expect(r.all().find((e) => e.value === 't-1')?.at).toBeGreaterThan(entry.at)
    expect(r.lift('jti', 't-1')).toBe(false)
  })

  it('ends a revocation at its expiry', () => {
    const r = list()
    r.merge([{ kind: 'sub', value: 'alice', at: 1, expiresAt: Date.now() - 1, lifted: false }])
    expect(r.isRevoked(alice)).toBe(false)
    expect(r.list()).toEqual([])
  })

  it('keeps decisions in the file, lifts included, beside hand-written items; a new list reads them back', () => {
    const file = path.join(tempDir(), 'revoked.json')
    writeFileSync(file, JSON.stringify({ jti: ['by-hand'] }))
    const r = list(file, true)
    r.revoke('sub', 'alice', null)
    r.revoke('sub', 'bob', null)
    r.lift('sub', 'bob')
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { jti: unknown[]; sub: { id: string; lifted?: boolean }[] }
    expect(stored.jti).toEqual(['by-hand'])
    expect(stored.sub.map((e) => [e.id, e.lifted ?? false])).toEqual([
      ['alice', false],
      ['bob', true],
    ])
    const again = list(file, true)
    expect(again.list().map((e) => e.value)).toEqual(['by-hand', 'alice'])
    expect(again.all()).toHaveLength(3)
  })

  it('revokes even when the file cannot be written, and says so', () => {
    // Its folder is a file: nothing can be written there.
    const notAFolder = path.join(tempDir(), 'data')
    writeFileSync(notAFolder, '')
    const r = list(path.join(notAFolder, 'revocations.json'))
    const closed: string[] = []
    r.watch(alice, () => closed.push('alice'))
    expect(() => r.revoke('sub', 'alice', null)).toThrow(/could not be written/u)
    expect(r.isRevoked(alice)).toBe(true)
    expect(closed).toEqual(['alice'])
  })
})
