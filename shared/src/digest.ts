import { digest as sha256 } from 'lib0/hash/sha256'

const HEX_PAIRS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

/**
 * Lowercase hex of a byte array, as one flat string: built with `+=`, V8 keeps a string as a tree of its
 * pieces (a 64-character digest: ~60 nodes, ≈ 2 KB), and versions live as long as their docs.
 */
export function toHex(bytes: Uint8Array): string {
  const pairs = new Array<string>(bytes.length)
  for (let i = 0; i < bytes.length; i++) pairs[i] = HEX_PAIRS[bytes[i]]
  return pairs.join('')
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/u.test(hex)) throw new TypeError('not a hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

/** SHA-256 of bytes as hex; isomorphic (browser and Node). */
export function sha256Hex(bytes: Uint8Array): string {
  return toHex(sha256(bytes))
}

/** SHA-256 of a UTF-8 string as raw bytes. */
export function sha256Bytes(text: string): Uint8Array {
  return sha256(new TextEncoder().encode(text))
}
