import type { FastifyError, FastifyInstance } from 'fastify'
import { ErrorCode, MurmurError } from '@murmur/shared'

/** The HTTP status that goes with each error code. */
export const httpStatusFor: Record<ErrorCode, number> = {
  [ErrorCode.MALFORMED_MESSAGE]: 400,
  [ErrorCode.UNKNOWN_MESSAGE]: 400,
  [ErrorCode.UNSUPPORTED_VERSION]: 400,
  [ErrorCode.HANDSHAKE_REQUIRED]: 400,
  [ErrorCode.FRAME_TOO_LARGE]: 413,
  [ErrorCode.DOC_TOO_LARGE]: 413,
  [ErrorCode.INVALID_DOC_ID]: 400,
  [ErrorCode.UNKNOWN_ENGINE]: 404,
  [ErrorCode.INVALID_UPDATE]: 400,
  [ErrorCode.UNKNOWN_DOC_REF]: 400,
  [ErrorCode.LOAD_FAILED]: 503,
  [ErrorCode.STORAGE_FAILED]: 503,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.SLOW_CONSUMER]: 503,
  [ErrorCode.REPLICATION_TIMEOUT]: 504,
  [ErrorCode.SHUTTING_DOWN]: 503,
  [ErrorCode.DOC_DELETED]: 410,
  [ErrorCode.VERSION_UNAVAILABLE]: 410,
  [ErrorCode.HANDSHAKE_TIMEOUT]: 408,
  [ErrorCode.AWARENESS_LIMIT]: 429,
  [ErrorCode.NODE_ID_CONFLICT]: 503,
  [ErrorCode.VERSION_NOT_FOUND]: 404,
  [ErrorCode.INTERNAL]: 500,
}

/** The JSON body of every HTTP error: the same codes as the WebSocket protocols. */
export interface HttpErrorBody {
  readonly code: ErrorCode
  readonly message: string
}

/** Fastify's own errors (schema validation, body parsing and size), as Murmur codes. */
function fromFastify(err: FastifyError): MurmurError {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new MurmurError(ErrorCode.FRAME_TOO_LARGE, 'request body larger than --max-frame-bytes')
  if (err.statusCode === 429) return new MurmurError(ErrorCode.RATE_LIMITED, 'too many requests; slow down (--http-requests-per-minute)')
  if (err.validation !== undefined || (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)) {
    return new MurmurError(ErrorCode.MALFORMED_MESSAGE, `bad request: ${err.message.slice(0, 200)}`)
  }
  return new MurmurError(ErrorCode.INTERNAL, 'internal error', { cause: err })
}

/** Every error becomes `{ code, message }` with the status of its code; internal ones are logged, never echoed. */
export function registerErrorHandler(http: FastifyInstance, onError: (code: ErrorCode) => void): void {
  http.setErrorHandler((err, req, reply) => {
    const error = err instanceof MurmurError ? err : fromFastify(err as FastifyError)
    onError(error.code)
    if (error.code === ErrorCode.INTERNAL) req.log.error({ err }, 'HTTP request failed')
    const status = httpStatusFor[error.code]
    if (status === 401) void reply.header('www-authenticate', 'Bearer')
    const body: HttpErrorBody = { code: error.code, message: error.code === ErrorCode.INTERNAL ? 'internal error' : error.message }
    return reply.code(status).send(body)
  })
}
