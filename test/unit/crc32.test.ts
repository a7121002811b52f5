import { describe, expect, it } from 'vitest'
import { crc32 } from '../../server/src/storage/crc32.js'

/** The table-driven CRC-32 that wrote the logs stored before Node's own was used. */
function tableCrc32(data: Uint8Array, crc = 0): number {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  let c = ~crc >>> 0
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

describe('crc32', () => {
  it('is the IEEE CRC-32 (check value of "123456789")', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array(0))).toBe(0)
  })

  it('gives what the table-driven one stored for older log entries, whole and continued over pieces', () => {
    let seed = 7
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0)
    for (const length of [1, 3, 64, 1000, 65_537]) {
      const data = Uint8Array.from({ length }, () => next() & 0xff)
      const old = tableCrc32(data)
      expect(crc32(data)).toBe(old)
      // Unsigned, as the SQLite and PostgreSQL columns hold it.
      expect(crc32(data)).toBeGreaterThanOrEqual(0)
      const cut = Math.floor(length / 3)
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(old)
      // A view into a larger buffer checksums only its own bytes.
      const padded = new Uint8Array(length + 8)
      padded.set(data, 4)
      expect(crc32(padded.subarray(4, 4 + length))).toBe(old)
    }
  })
})
