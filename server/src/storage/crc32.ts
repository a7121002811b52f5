/**
 * CRC-32 (IEEE 802.3, the one zlib and PNG use: reflected polynomial 0xEDB88320), table-driven.
 * Every log entry carries one so that a load can tell a torn or rotten entry from a good one.
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/**
 * The CRC-32 of `data` as an unsigned 32-bit integer. Pass a previous result as `crc` to continue a
 * checksum over data that arrives in pieces.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
