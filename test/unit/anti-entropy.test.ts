import { describe, expect, it } from 'vitest'
import { asNodeId, type NodeId } from '@murmur/shared'
import { AntiEntropy } from '../../server/dist/cluster/anti-entropy.js'
import { VersionIndex } from '../../server/dist/cluster/version-index.js'
import { PARTITIONS, locate } from '../../server/dist/cluster/placement.js'
import { encodePeerMessage, type PeerMessage } from '../../server/dist/cluster/peer-protocol.js'

const A = asNodeId('a')
const B = asNodeId('b')
const ALL = Array.from({ length: PARTITIONS }, (_, p) => p)

/** Two AntiEntropy instances wired back to back; counts bytes and records what each asks to repair. */
function pair(ia: VersionIndex, ib: VersionIndex) {
  const repaired = { a: new Set<string>(), b: new Set<string>() }
  let bytes = 0
  let messages = 0
  const queue: [NodeId, PeerMessage][] = []
  const make = (index: VersionIndex, who: 'a' | 'b', peer: NodeId) =>
    new AntiEntropy({
      index,
      sharedPartitions: () => ALL,
      send: (_to, msg) => {
        bytes += encodePeerMessage(msg).length
        messages++
        queue.push([peer, msg])
      },
      repair: (_peer, key) => repaired[who].add(key),
      refresh: () => undefined,
    }, who === 'a' ? A : B)
  const a = make(ia, 'a', B)
  const b = make(ib, 'b', A)
  const run = () => {
    while (queue.length > 0) {
      const [to, msg] = queue.shift()!
      ;(to === A ? a : b).receive(to === A ? B : A, msg as never)
    }
  }
  return { a, b, repaired, run, stats: () => ({ bytes, messages }) }
}

function fill(n: number): [VersionIndex, VersionIndex] {
  const ia = new VersionIndex()
  const ib = new VersionIndex()
  for (let i = 0; i < n; i++) {
    const key = `yjs:doc-${i}`
    const version = (i * 2654435761 >>> 0).toString(16).padStart(16, '0').repeat(4)
    ia.set(key, version)
    ib.set(key, version)
  }
  return [ia, ib]
}

describe('anti-entropy', () => {
  it('in sync: one message each way, nothing repaired', () => {
    const [ia, ib] = fill(10_000)
    const p = pair(ia, ib)
    p.a.startRound(B)
    p.run()
    expect(p.stats().messages).toBe(2)
    expect(p.repaired.b.size).toBe(0)
    expect(p.a.stats.lastRoundRepaired).toBe(0)
  })

  it('100,000 docs with 5 diverged: finds and repairs exactly those, in well under 100 KiB', () => {
    const [ia, ib] = fill(100_000)
    const diverged = ['yjs:doc-17', 'yjs:doc-4242', 'yjs:doc-99999']
    ia.set(diverged[0], 'f'.repeat(64))
    ib.set(diverged[1], 'e'.repeat(64))
    ia.set(diverged[2], 'd'.repeat(64))
    ia.set('yjs:only-on-a', 'a'.repeat(64))
    ib.set('automerge:only-on-b', 'b'.repeat(64))
    const expected = new Set([...diverged, 'yjs:only-on-a', 'automerge:only-on-b'])
    const p = pair(ia, ib)
    const started = performance.now()
    p.a.startRound(B)
    p.run()
    const ms = performance.now() - started
    expect(p.repaired.b).toEqual(expected)
    expect(p.a.stats.lastRoundRepaired).toBe(5)
    const { bytes, messages } = p.stats()
    expect(messages).toBe(4)
    expect(bytes).toBeLessThan(100 * 1024)
    expect(ms).toBeLessThan(10_000) // a bound on a hung loop, not a speed target (that is bench/)
  })

  it('the digest tree is order-independent and a change touches one leaf', () => {
    const x = new VersionIndex()
    const y = new VersionIndex()
    const keys = Array.from({ length: 500 }, (_, i) => `yjs:k${i}`)
    keys.forEach((k) => x.set(k, `v-${k}`))
    ;[...keys].reverse().forEach((k) => y.set(k, `v-${k}`))
    for (let p = 0; p < PARTITIONS; p++) expect(x.partitionDigest(p)).toBe(y.partitionDigest(p))
    const { partition } = locate('yjs:k7')
    x.set('yjs:k7', 'changed')
    const differing = ALL.filter((p) => x.partitionDigest(p) !== y.partitionDigest(p))
    expect(differing).toEqual([partition])
    x.set('yjs:k7', 'v-yjs:k7')
    expect(x.partitionDigest(partition)).toBe(y.partitionDigest(partition))
  })

  it('a deleted doc stays in the digests as a tombstone: equal on both sides, different from content, and found', () => {
    const x = new VersionIndex()
    const y = new VersionIndex()
    x.set('yjs:gone', 'v1')
    y.set('yjs:gone', 'v1')
    x.setDeleted('yjs:gone', 5)
    // A late refresh of the loaded doc does not bring the content back.
    x.set('yjs:gone', 'v2')
    expect(x.version('yjs:gone')).toBe('deleted')
    expect(x.deletedAt('yjs:gone')).toBe(5)
    const { partition } = locate('yjs:gone')
    expect(x.partitionDigest(partition)).not.toBe(y.partitionDigest(partition))
    const { a, repaired, run } = pair(x, y)
    a.startRound(B)
    run()
    expect([...repaired.b]).toEqual(['yjs:gone'])
    // Deleted at another time elsewhere: the same tombstone.
    y.setDeleted('yjs:gone', 9)
    expect(x.partitionDigest(partition)).toBe(y.partitionDigest(partition))
  })

  it('picks peers round robin in ring order, starting after itself, so P rounds meet all P peers', () => {
    const index = new VersionIndex()
    const ae = new AntiEntropy({ index, sharedPartitions: () => ALL, send: () => undefined, repair: () => undefined, refresh: () => undefined }, asNodeId('n3'))
    const peers = ['n5', 'n1', 'n4', 'n2'].map((p) => asNodeId(p))
    expect(Array.from({ length: 8 }, () => ae.nextPeer(peers))).toEqual(['n4', 'n5', 'n1', 'n2', 'n4', 'n5', 'n1', 'n2'])
    // A peer that is not reachable is skipped; one that comes back is met in its turn.
    expect(ae.nextPeer(peers.filter((p) => p !== 'n4'))).toBe('n5')
    expect(ae.nextPeer(peers)).toBe('n1')
    expect(ae.nextPeer([])).toBeNull()
  })
})
