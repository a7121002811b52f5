/**
 * The server's RFC 6455 frame reader on its own: whole messages out of any split of the input, the
 * limits checked on the header, and every protocol violation named with its close code.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { type FrameHandler, type FrameRemainder, MAX_FRAGMENTS, Opcode, WsClose, closePayload, frameHeader, readFrames } from '../../server/dist/ws/websocket.js'
import { clientFrame } from '../support/ws-frames.js'

interface Event {
  kind: 'message' | 'ping' | 'close' | 'violation'
  data?: string
  binary?: boolean
  code?: number
  reason?: string
}

class Recorder implements FrameHandler {
  events: Event[] = []
  reading = true
  message(data: Buffer, binary: boolean): void {
    this.events.push({ kind: 'message', data: data.toString('hex'), binary })
  }
  ping(payload: Buffer): void {
    this.events.push({ kind: 'ping', data: payload.toString('hex') })
  }
  closeFrame(code: number, reason: string): void {
    this.events.push({ kind: 'close', code, reason })
    this.reading = false
  }
  violation(code: number, reason: string): void {
    this.events.push({ kind: 'violation', code, reason })
    this.reading = false
  }
}

/** Feed `input` in the given pieces, as reads of a TCP socket would. */
function feed(input: Buffer, cuts: number[], maxPayload = 1 << 20): { events: Event[]; rest: FrameRemainder | null } {
  const handler = new Recorder()
  let rest: FrameRemainder | null = null
  let at = 0
  for (const cut of [...cuts.filter((c) => c > 0 && c < input.length).sort((a, b) => a - b), input.length]) {
    if (cut <= at) continue
    // A copy per read, as each read of a socket is its own buffer (the reader unmasks in place).
    rest = readFrames(rest, Buffer.from(input.subarray(at, cut)), maxPayload, handler)
    at = cut
    if (!handler.reading) break
  }
  return { events: handler.events, rest }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** However `input` is cut into reads (up to `maxCuts` cuts), the reader gives `expected` and keeps nothing. */
function expectAtAnyCuts(input: Buffer, expected: unknown[], maxCuts: number): void {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: input.length - 1 }), { maxLength: maxCuts }), (cuts) => {
      const { events, rest } = feed(input, cuts)
      expect(events).toEqual(expected)
      expect(rest).toBeNull()
    }),
    { numRuns: 200 },
  )
}

describe('websocket frame reader', () => {
  it('reads messages of every length class (7-bit, 16-bit and 64-bit lengths), split at any byte', () => {
    const payloads = [0, 1, 125, 126, 127, 65535, 65536, 70_000].map((n) => randomBytes(n))
    const input = Buffer.concat(payloads.map((p) => clientFrame(Opcode.binary, p)))
    const expected = payloads.map((p) => ({ kind: 'message', data: hex(p), binary: true }))
    expect(feed(input, []).events).toEqual(expected)
    expectAtAnyCuts(input, expected, 12)
  })

  it('joins fragments into one message, with control frames between them, however the bytes arrive', () => {
    const parts = [randomBytes(10), randomBytes(300), randomBytes(1)]
    const input = Buffer.concat([
      clientFrame(Opcode.binary, parts[0], { fin: false }),
      clientFrame(Opcode.ping, Buffer.from('hi')),
      clientFrame(Opcode.continuation, parts[1], { fin: false }),
      clientFrame(Opcode.pong, Buffer.alloc(0)),
      clientFrame(Opcode.continuation, parts[2]),
      clientFrame(Opcode.text, Buffer.from('après')),
    ])
    const expected: Event[] = [
      { kind: 'ping', data: hex(Buffer.from('hi')) },
      { kind: 'message', data: hex(Buffer.concat(parts)), binary: true },
      { kind: 'message', data: hex(Buffer.from('après')), binary: false },
    ]
    expectAtAnyCuts(input, expected, 8)
  })

  it('keeps nothing between reads once every frame is whole', () => {
    const whole = feed(clientFrame(Opcode.binary, randomBytes(50)), [])
    expect(whole.rest).toBeNull()
    const half = feed(clientFrame(Opcode.binary, randomBytes(50)).subarray(0, 20), [])
    expect(half.events).toEqual([])
    expect(half.rest?.bytes).toBe(20)
  })

  it("reads the peer's close frame: code and reason, or no status at all", () => {
    expect(feed(clientFrame(Opcode.close, closePayload(4001, 'bye now')), []).events).toEqual([{ kind: 'close', code: 4001, reason: 'bye now' }])
    expect(feed(clientFrame(Opcode.close, Buffer.alloc(0)), []).events).toEqual([{ kind: 'close', code: WsClose.noStatus, reason: '' }])
    // Nothing after a close frame is read.
    const after = Buffer.concat([clientFrame(Opcode.close, closePayload(1000, '')), clientFrame(Opcode.binary, Buffer.from([1]))])
    expect(feed(after, []).events).toEqual([{ kind: 'close', code: 1000, reason: '' }])
  })

  it.each([
    ['an unmasked frame', clientFrame(Opcode.binary, Buffer.from([1]), { mask: false }), WsClose.protocolError],
    ['reserved bits', clientFrame(Opcode.binary, Buffer.from([1]), { rsv: 0x40 }), WsClose.protocolError],
    ['an unknown data opcode', clientFrame(0x3, Buffer.from([1])), WsClose.protocolError],
    ['an unknown control opcode', clientFrame(0xb, Buffer.from([1])), WsClose.protocolError],
    ['a fragmented ping', clientFrame(Opcode.ping, Buffer.from([1]), { fin: false }), WsClose.protocolError],
    ['a ping over 125 bytes', clientFrame(Opcode.ping, Buffer.alloc(126)), WsClose.protocolError],
    ['a continuation with no message', clientFrame(Opcode.continuation, Buffer.from([1])), WsClose.protocolError],
    [
      'a new message inside a fragmented one',
      Buffer.concat([clientFrame(Opcode.binary, Buffer.from([1]), { fin: false }), clientFrame(Opcode.binary, Buffer.from([2]))]),
      WsClose.protocolError,
    ],
    ['a close frame of one byte', clientFrame(Opcode.close, Buffer.from([3])), WsClose.protocolError],
    ['a close code that may not be sent (1005)', clientFrame(Opcode.close, Buffer.from([0x03, 0xed])), WsClose.protocolError],
    ['a close code out of range', clientFrame(Opcode.close, closePayload(2999, '')), WsClose.protocolError],
    ['a close reason that is not UTF-8', clientFrame(Opcode.close, Buffer.from([0x03, 0xe8, 0xff, 0xfe])), WsClose.invalidData],
  ])('refuses %s with its close code', (_name, input, code) => {
    const { events, rest } = feed(input, [])
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ kind: 'violation', code })
    expect(rest).toBeNull()
  })

  it('refuses a message over the limit from its header alone, before the payload arrives', () => {
    const header = clientFrame(Opcode.binary, Buffer.alloc(0), { length: 2_000_000 }).subarray(0, 14)
    expect(feed(header, [], 1 << 20).events).toMatchObject([{ kind: 'violation', code: WsClose.tooBig }])
    // A 64-bit length no message could have.
    const huge = Buffer.from(header)
    huge.writeUInt32BE(0xffff_ffff, 2)
    expect(feed(huge, [], 1 << 20).events).toMatchObject([{ kind: 'violation', code: WsClose.tooBig }])
    // Fragments count together.
    const fragments = Buffer.concat([
      clientFrame(Opcode.binary, Buffer.alloc(600), { fin: false }),
      clientFrame(Opcode.continuation, Buffer.alloc(600)),
    ])
    expect(feed(fragments, [], 1000).events).toMatchObject([{ kind: 'violation', code: WsClose.tooBig }])
    expect(feed(fragments, [], 1200).events).toMatchObject([{ kind: 'message', binary: true }])
  })

  it('bounds the fragments of one message, which cost an object each; empty ones are not kept', () => {
    const fragmented = (n: number): Buffer =>
      Buffer.concat([
        clientFrame(Opcode.binary, Buffer.from([0]), { fin: false }),
        ...Array.from({ length: n - 2 }, (_, i) => clientFrame(Opcode.continuation, Buffer.from([(i + 1) & 0xff]), { fin: false })),
        clientFrame(Opcode.continuation, Buffer.from([(n - 1) & 0xff])),
      ])
    const whole = feed(fragmented(MAX_FRAGMENTS), [])
    expect(whole.events).toMatchObject([{ kind: 'message', binary: true }])
    expect(Buffer.from(whole.events[0].data ?? '', 'hex')).toHaveLength(MAX_FRAGMENTS)
    expect(feed(fragmented(MAX_FRAGMENTS + 1), []).events).toMatchObject([{ kind: 'violation', code: WsClose.policy }])
    // Empty fragments, however many, hold nothing.
    const empties = Buffer.concat([
      clientFrame(Opcode.binary, Buffer.alloc(0), { fin: false }),
      ...Array.from({ length: 10 * MAX_FRAGMENTS }, () => clientFrame(Opcode.continuation, Buffer.alloc(0), { fin: false })),
      clientFrame(Opcode.continuation, Buffer.from('end')),
    ])
    expect(feed(empties, []).events).toEqual([{ kind: 'message', data: hex(Buffer.from('end')), binary: true }])
  })

  it('never throws on arbitrary input, and stops at the first violation it reports', () => {
    const valid = Buffer.concat([
      clientFrame(Opcode.binary, randomBytes(200), { fin: false }),
      clientFrame(Opcode.ping, Buffer.from('p')),
      clientFrame(Opcode.continuation, randomBytes(70_000)),
      clientFrame(Opcode.binary, randomBytes(3)),
      clientFrame(Opcode.close, closePayload(1000, 'bye')),
    ])
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 2000 }),
      // Valid frames with a few bytes changed: headers, masks and payloads alike.
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
        const b = Buffer.from(valid)
        for (const [at, value] of edits) b[at] = value
        return new Uint8Array(b)
      }),
    )
    fc.assert(
      fc.property(input, fc.array(fc.nat(80_000), { maxLength: 6 }), (bytes, cuts) => {
        const { events } = feed(Buffer.from(bytes), cuts, 64 * 1024)
        const stop = events.findIndex((e) => e.kind === 'violation' || e.kind === 'close')
        expect(stop === -1 || stop === events.length - 1).toBe(true)
        for (const e of events) if (e.kind === 'violation') expect([1002, 1007, 1008, 1009]).toContain(e.code)
      }),
      { numRuns: 500 },
    )
  })

  it('writes headers of every length class that a reader decodes back', () => {
    for (const n of [0, 125, 126, 65535, 65536, 5_000_000]) {
      const h = frameHeader(Opcode.binary, n)
      expect(h[0]).toBe(0x80 | Opcode.binary)
      const len7 = h[1] & 0x7f
      const decoded = len7 < 126 ? len7 : len7 === 126 ? h.readUInt16BE(2) : h.readUInt32BE(2) * 2 ** 32 + h.readUInt32BE(6)
      expect(decoded).toBe(n)
    }
  })
})
