import { ErrorCode, MurmurError } from './errors.js'
import { isDocId, type DocId } from './ids.js'

/** The longest doc id, in characters (code points), on every endpoint. */
export const MAX_DOC_ID_LENGTH = 256

/** What every endpoint says about an id it refuses: the same code and the same words, HTTP and sockets alike. */
export const INVALID_DOC_ID_MESSAGE = `doc ids are 1–${MAX_DOC_ID_LENGTH} characters, without control characters or surrounding spaces`

/**
 * The one doc-id check of every endpoint (HTTP routes, `/sync`, `/yjs/<doc>`, `/automerge`, and any
 * endpoint added later): the id itself, or MurmurError INVALID_DOC_ID.
 */
export function requireDocId(value: unknown): DocId {
  if (!isDocId(value)) throw new MurmurError(ErrorCode.INVALID_DOC_ID, INVALID_DOC_ID_MESSAGE)
  return value
}
