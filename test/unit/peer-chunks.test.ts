import { describe, expect, it } from 'vitest'
import { LinkQueue, Reassembly, splitFrame } from '../../server/dist/cluster/chunks.js'
import { decodePeerMessage, encodePeerMessage, PeerMessageType, type PeerMessage } from '../../server/dist/cluster/peer-protocol.js'

type Chunk = Extract<PeerMessage, { type: typeof PeerMessageType.chunk }>

function bigSync(bytes: number): Uint8Array {
  const payload = new Uint8Array(bytes).map((_, i) => i % 251)
  return encodePeerMessage({ type: PeerMessageType.docSync, doc: { engine: 'yjs', docId: 'd' as never }, payload, fresh: true })
}

describe('peer message pieces', () => {
  it('a frame larger than the bound is split into pieces no larger than it, which reassemble to the frame', () => {
    const frame = bigSync(10_000)
    const pieces = splitFrame(frame, 7, 1024)
    expect(pieces.length).toBeGreaterThan(9)
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(1024)
    const r = new Reassembly(1_000_000)
    const out = pieces.map((p) => r.add(decodePeerMessage(p) as Chunk))
    expect(out.slice(0, -1).every((x) => x === null)).toBe(true)
    expect(out.at(-1)).toEqual(frame)
    expect(r.inProgress).toBe(false)
    expect(splitFrame(frame, 8, frame.length)).toEqual([frame])
  })

  it('pieces of two messages interleaved, or more bytes than allowed, are refused', () => {
    const a = splitFrame(bigSync(5000), 1, 1024).map((p) => decodePeerMessage(p) as Chunk)
    const b = splitFrame(bigSync(5000), 2, 1024).map((p) => decodePeerMessage(p) as Chunk)
    const r = new Reassembly(1_000_000)
    r.add(a[0])
    expect(() => r.add(b[0])).toThrow(/incomplete/u)
    const small = new Reassembly(3000)
    expect(() => a.forEach((c) => small.add(c))).toThrow(/larger than 3000/u)
  })

  it('a queue hands pieces to the socket as it drains, and urgent messages pass them', () => {
    const sent: Uint8Array[] = []
    const pending: (() => void)[] = []
    const socket = {
      bufferedAmount: 0,
      readyState: 1,
      send(frame: Uint8Array, done: () => void) {
        sent.push(frame)
        socket.bufferedAmount += frame.length
        pending.push(() => {
          socket.bufferedAmount -= frame.length
          done()
        })
      },
    }
    const stats = { chunks: 0, bytes: 0, messages: 0 }
    const q = new LinkQueue(socket, 1024, stats)
    q.send(q.split(bigSync(20_000)), false)
    // No more than a frame's worth waits in the socket: the rest waits for it to drain.
    const first = sent.length
    expect(first).toBeLessThanOrEqual(2)
    expect(q.inProgress).toBe(1)
    expect(q.bytes).toBeGreaterThan(15_000)
    const ack = encodePeerMessage({ type: PeerMessageType.docAck, reqId: 1, ok: true })
    q.send(q.split(ack), true)
    expect(sent[first]).toEqual(ack)
    while (pending.length > 0) pending.shift()!()
    expect(q.inProgress).toBe(0)
    expect(stats.messages).toBe(1)
    expect(stats.chunks).toBe(sent.length - 1)
    for (const f of sent) expect(f.length).toBeLessThanOrEqual(1024)
  })
})
