/**
 * Automerge's storage format, split into chunks and checked before any byte reaches Automerge.
 */
import * as A from '@automerge/automerge/next'
import { ErrorCode, MurmurError } from '../../errors.js'
import { sha256Hex, toHex } from '../../digest.js'

/** The chunk types of Automerge's storage format. */
export const ChunkType = { document: 0, change: 1, compressedChange: 2 } as const
export type ChunkType = (typeof ChunkType)[keyof typeof ChunkType]

const MAGIC = [0x85, 0x6f, 0x4a, 0x83] as const

/** One chunk of an update: a whole document, or one change (`hash` is the change hash). */
export interface Chunk {
  readonly type: ChunkType
  readonly bytes: Uint8Array
  readonly hash: string | null
}

export function invalid(reason: string, cause?: unknown): MurmurError {
  return new MurmurError(ErrorCode.INVALID_UPDATE, `malformed Automerge update: ${reason}`, { cause })
}

/**
 * Split bytes into chunks and check each one. This is needed before handing bytes to Automerge because
 * `loadIncremental` on a non-empty doc silently ignores whatever it cannot parse (and everything after
 * it), so garbage would look like a successful no-op and a corrupt tail would be dropped without notice.
 *
 * `deep` also loads document chunks into a scratch doc: their checksum proves integrity, not that an
 * untrusted sender built them correctly. A stored snapshot (trusted, and loaded fully anyway) skips it.
 */
export function parseChunks(data: Uint8Array, deep: boolean): Chunk[] {
  if (data.length === 0) throw invalid('no chunks')
  const chunks: Chunk[] = []
  let pos = 0
  while (pos < data.length) {
    const start = pos
    if (data.length - pos < 10) throw invalid(`truncated chunk header at byte ${pos}`)
    for (let i = 0; i < MAGIC.length; i++) if (data[pos + i] !== MAGIC[i]) throw invalid(`bad magic at byte ${pos}`)
    const type = data[pos + 8]
    if (type !== ChunkType.document && type !== ChunkType.change && type !== ChunkType.compressedChange) {
      throw invalid(`unknown chunk type ${type}`)
    }
    pos += 9
    let length = 0
    for (let shift = 0; ; shift += 7) {
      if (pos >= data.length || shift > 28) throw invalid('bad chunk length')
      const byte = data[pos++]
      length += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) break
    }
    const end = pos + length
    if (end > data.length) throw invalid(`chunk of ${length} bytes runs past the end`)
    const bytes = data.subarray(start, end)
    const checksum = toHex(data.subarray(start + 4, start + 8))
    chunks.push(checkChunk(type, bytes, checksum, deep))
    pos = end
  }
  return chunks
}

function checkChunk(type: ChunkType, bytes: Uint8Array, checksum: string, deep: boolean): Chunk {
  if (type === ChunkType.document) {
    // The checksum is the first 4 bytes of SHA-256 over the type byte, the length and the data.
    if (!sha256Hex(bytes.subarray(8)).startsWith(checksum)) throw invalid('bad document checksum')
    if (deep) {
      try {
        A.free(A.load(bytes))
      } catch (err) {
        throw invalid(`document chunk: ${(err as Error).message}`, err)
      }
    }
    return { type, bytes, hash: null }
  }
  // A change's hash is the SHA-256 of the same bytes, so the checksum is its first 4 bytes. Checked here
  // first: `decodeChange` does not compare it, and some corrupt columns make the wasm panic instead of
  // returning an error. (A compressed change is checksummed before compression; `decodeChange` inflates it.)
  if (type === ChunkType.change && !sha256Hex(bytes.subarray(8)).startsWith(checksum)) throw invalid('bad change checksum')
  let hash: string
  try {
    hash = A.decodeChange(bytes).hash // parses every column
  } catch (err) {
    throw invalid(`change chunk: ${(err as Error).message}`, err)
  }
  if (!hash.startsWith(checksum)) throw invalid('bad change checksum')
  return { type, bytes, hash }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]
  let size = 0
  for (const p of parts) size += p.length
  const out = new Uint8Array(size)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}
