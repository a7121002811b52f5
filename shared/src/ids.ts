/**
 * Branded identifiers. A `DocId` is not a `NodeId`, even though both are strings on the wire.
 */
declare const brand: unique symbol
type Brand<T, B extends string> = T & { readonly [brand]: B }

export type DocId = Brand<string, 'DocId'>
export type NodeId = Brand<string, 'NodeId'>
export type ClientId = Brand<string, 'ClientId'>

/** Doc ids: 1–256 chars, no control characters, no leading/trailing whitespace. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what doc ids must not contain
const DOC_ID = /^[^\u0000-\u001f\u007f]{1,256}$/u

export function isDocId(value: unknown): value is DocId {
  return typeof value === 'string' && DOC_ID.test(value) && value.trim() === value
}

export function asDocId(value: string): DocId {
  if (!isDocId(value)) throw new TypeError(`invalid doc id: ${JSON.stringify(value).slice(0, 80)}`)
  return value
}

export function asNodeId(value: string): NodeId {
  if (value.length === 0 || value.length > 128) throw new TypeError('invalid node id')
  return value as NodeId
}

export function asClientId(value: string): ClientId {
  return value as ClientId
}

/** A random id of 16 hex chars; crypto.getRandomValues exists in browsers and Node 20. */
export function randomId(bytes = 8): string {
  const buf = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(buf)
  let out = ''
  for (const b of buf) out += b.toString(16).padStart(2, '0')
  return out
}
