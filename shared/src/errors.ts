/**
 * Stable error codes and WebSocket close codes. Every code here is listed in docs/protocol.md
 * (a test checks it). Codes never change meaning; new ones are only added.
 */
export const ErrorCode = {
  /** A frame could not be decoded. */
  MALFORMED_MESSAGE: 'MUR_ERR_MALFORMED_MESSAGE',
  /** A message type this server does not know. */
  UNKNOWN_MESSAGE: 'MUR_ERR_UNKNOWN_MESSAGE',
  /** The client asked for a protocol major version this server does not speak. */
  UNSUPPORTED_VERSION: 'MUR_ERR_UNSUPPORTED_VERSION',
  /** A message arrived before the hello/welcome handshake finished. */
  HANDSHAKE_REQUIRED: 'MUR_ERR_HANDSHAKE_REQUIRED',
  /** A frame larger than the configured maximum. */
  FRAME_TOO_LARGE: 'MUR_ERR_FRAME_TOO_LARGE',
  /** A doc would grow past the configured maximum size. */
  DOC_TOO_LARGE: 'MUR_ERR_DOC_TOO_LARGE',
  /** A doc id that is empty, too long or has control characters. */
  INVALID_DOC_ID: 'MUR_ERR_INVALID_DOC_ID',
  /** An engine name this server does not know. */
  UNKNOWN_ENGINE: 'MUR_ERR_UNKNOWN_ENGINE',
  /** An update or sync message the engine rejected. */
  INVALID_UPDATE: 'MUR_ERR_INVALID_UPDATE',
  /** A doc ref used before open or after close. */
  UNKNOWN_DOC_REF: 'MUR_ERR_UNKNOWN_DOC_REF',
  /** The doc could not be loaded from storage; it is not served rather than served empty. */
  LOAD_FAILED: 'MUR_ERR_LOAD_FAILED',
  /** Storage failed to make an update durable; it was not acknowledged. */
  STORAGE_FAILED: 'MUR_ERR_STORAGE_FAILED',
  /** Missing, forged or expired credentials. */
  UNAUTHORIZED: 'MUR_ERR_UNAUTHORIZED',
  /** Valid credentials without the right to do this. */
  FORBIDDEN: 'MUR_ERR_FORBIDDEN',
  /** Too many messages or connections. */
  RATE_LIMITED: 'MUR_ERR_RATE_LIMITED',
  /** The peer did not read fast enough; its send buffer passed the limit. */
  SLOW_CONSUMER: 'MUR_ERR_SLOW_CONSUMER',
  /** The write could not reach the requested number of replicas in time. */
  REPLICATION_TIMEOUT: 'MUR_ERR_REPLICATION_TIMEOUT',
  /** The server is shutting down. */
  SHUTTING_DOWN: 'MUR_ERR_SHUTTING_DOWN',
  /** The doc was deleted (it has a tombstone): it refuses loads and writes. */
  DOC_DELETED: 'MUR_ERR_DOC_DELETED',
  /** The requested version of a doc is no longer stored (compaction folded it into a snapshot). */
  VERSION_UNAVAILABLE: 'MUR_ERR_VERSION_UNAVAILABLE',
  /** A socket that did not finish its protocol's handshake (hello, join) in time (`--handshake-timeout-ms`). */
  HANDSHAKE_TIMEOUT: 'MUR_ERR_HANDSHAKE_TIMEOUT',
  /** A socket announced more presence states, or larger ones, than it may (`--max-awareness-*-per-socket`). */
  AWARENESS_LIMIT: 'MUR_ERR_AWARENESS_LIMIT',
  /** The doc has no such version: a history seq past its last entry, or a version id never made or deleted. */
  VERSION_NOT_FOUND: 'MUR_ERR_VERSION_NOT_FOUND',
  /**
   * This node's id is alive in the cluster as another process (or not yet confirmed by its peers): it
   * serves no docs, so it acknowledges nothing, until it runs with a unique `--node-id`.
   */
  NODE_ID_CONFLICT: 'MUR_ERR_NODE_ID_CONFLICT',
  /** Anything else; the log on the server has the detail. */
  INTERNAL: 'MUR_ERR_INTERNAL',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** WebSocket close codes. 1xxx are the standard ones; 4xxx are Murmur's. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Standard "message too big". */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** Malformed or unknown message (Murmur's protocol error, distinct from the transport's 1002). */
  MALFORMED: 4400,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  /** The doc failed to load; retrying later may help. */
  LOAD_FAILED: 4500,
  UNSUPPORTED_VERSION: 4426,
  RATE_LIMITED: 4429,
  SLOW_CONSUMER: 4408,
  /** The doc was deleted. */
  GONE: 4410,
  DOC_TOO_LARGE: 4413,
  /** No hello/join within the handshake timeout. */
  HANDSHAKE_TIMEOUT: 4407,
  /** Too many presence states (or bytes of them) from one socket. */
  AWARENESS_LIMIT: 4431,
  /** This node's id is taken by another live node of the cluster (also between nodes, on /peer). */
  NODE_ID_CONFLICT: 4409,
} as const
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/** The close code that goes with each error code when the error ends the connection. */
export const closeCodeFor: Record<ErrorCode, CloseCode> = {
  [ErrorCode.MALFORMED_MESSAGE]: CloseCode.MALFORMED,
  [ErrorCode.UNKNOWN_MESSAGE]: CloseCode.MALFORMED,
  [ErrorCode.UNSUPPORTED_VERSION]: CloseCode.UNSUPPORTED_VERSION,
  [ErrorCode.HANDSHAKE_REQUIRED]: CloseCode.MALFORMED,
  [ErrorCode.FRAME_TOO_LARGE]: CloseCode.MESSAGE_TOO_BIG,
  [ErrorCode.DOC_TOO_LARGE]: CloseCode.DOC_TOO_LARGE,
  [ErrorCode.INVALID_DOC_ID]: CloseCode.MALFORMED,
  [ErrorCode.UNKNOWN_ENGINE]: CloseCode.MALFORMED,
  [ErrorCode.INVALID_UPDATE]: CloseCode.MALFORMED,
  [ErrorCode.UNKNOWN_DOC_REF]: CloseCode.MALFORMED,
  [ErrorCode.LOAD_FAILED]: CloseCode.LOAD_FAILED,
  [ErrorCode.STORAGE_FAILED]: CloseCode.INTERNAL_ERROR,
  [ErrorCode.UNAUTHORIZED]: CloseCode.UNAUTHORIZED,
  [ErrorCode.FORBIDDEN]: CloseCode.FORBIDDEN,
  [ErrorCode.RATE_LIMITED]: CloseCode.RATE_LIMITED,
  [ErrorCode.SLOW_CONSUMER]: CloseCode.SLOW_CONSUMER,
  [ErrorCode.REPLICATION_TIMEOUT]: CloseCode.INTERNAL_ERROR,
  [ErrorCode.SHUTTING_DOWN]: CloseCode.GOING_AWAY,
  [ErrorCode.DOC_DELETED]: CloseCode.GONE,
  // Only ever an HTTP answer (410); no socket is closed for it.
  [ErrorCode.VERSION_UNAVAILABLE]: CloseCode.GONE,
  [ErrorCode.HANDSHAKE_TIMEOUT]: CloseCode.HANDSHAKE_TIMEOUT,
  [ErrorCode.AWARENESS_LIMIT]: CloseCode.AWARENESS_LIMIT,
  // Only ever an HTTP answer (404).
  [ErrorCode.VERSION_NOT_FOUND]: CloseCode.GONE,
  [ErrorCode.NODE_ID_CONFLICT]: CloseCode.NODE_ID_CONFLICT,
  [ErrorCode.INTERNAL]: CloseCode.INTERNAL_ERROR,
}

/** An error that carries a stable code; what crosses a socket or an HTTP response. */
export class MurmurError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MurmurError'
    this.code = code
  }
}

export function isMurmurError(err: unknown): err is MurmurError {
  return err instanceof MurmurError
}

/** Close reasons are limited to 123 bytes by the WebSocket spec. */
export function closeReason(code: ErrorCode, message: string): string {
  const text = `${code}: ${message}`
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= 123) return text
  return new TextDecoder().decode(bytes.slice(0, 120)).replace(/\uFFFD$/u, '') + '...'
}
