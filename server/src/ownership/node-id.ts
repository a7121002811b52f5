import { randomBytes } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { StartupError } from '../startup-error.js'

/** The file in the data dir that keeps the node's id and the data dir's own random id. */
export const NODE_ID_FILE = 'node-id.json'

export interface NodeIdentity {
  /** The node's id; null when none is given nor stored (a node without a data dir of its own). */
  readonly id: string | null
  /**
   * A random id of the store, made once with it (or per process without one): two processes that show the
   * same store id are one node restarted, since a data dir is locked by one process at a time.
   */
  readonly store: string
  /** What was decided, for the start log (null: nothing worth saying). */
  readonly note: string | null
  /** Whether the note is a warning (a rename) rather than news (a first id). */
  readonly renamed?: boolean
}

const randomId = (bytes: number): string => randomBytes(bytes).toString('hex')

/** Only SQLite storage keeps the node's data in a data dir of its own; the id lives there too. */
export function keepsIdentity(storage: string): boolean {
  const spec = storage.trim()
  return spec === '' || spec === 'sqlite'
}

function readStored(dir: string): { id: string; store: string } | null {
  let text: string
  try {
    text = readFileSync(join(dir, NODE_ID_FILE), 'utf8')
  } catch {
    return null
  }
  try {
    const v = JSON.parse(text) as { id?: unknown; store?: unknown }
    if (typeof v.id === 'string' && v.id !== '' && typeof v.store === 'string' && v.store !== '') return { id: v.id, store: v.store }
  } catch {
    // reported below
  }
  throw new StartupError(`--data-dir ${dir}: ${NODE_ID_FILE} is not a node identity; restore it, or remove it to start as a new node`)
}

function write(dir: string, id: string, store: string): void {
  const tmp = join(dir, `${NODE_ID_FILE}.tmp`)
  writeFileSync(tmp, `${JSON.stringify({ id, store })}\n`)
  renameSync(tmp, join(dir, NODE_ID_FILE))
}

/**
 * The node's id, kept in its data dir so that a restart keeps it: the given `--node-id` is stored at the
 * first start, and a node started without one gets an id made once. A data dir that belongs to another
 * id refuses the start, unless `rename` (`--rename-node`) says the node is renamed on purpose.
 */
export function resolveNodeId(dataDir: string | null, given: string | null, rename: boolean): NodeIdentity {
  if (dataDir === null) return { id: given, store: randomId(8), note: null }
  const stored = readStored(dataDir)
  if (stored !== null && (given === null || given === stored.id)) return { id: stored.id, store: stored.store, note: null }
  if (stored !== null && given !== null && !rename) {
    throw new StartupError(
      `--node-id ${given}: the data dir ${dataDir} belongs to node "${stored.id}" (${NODE_ID_FILE}); start it as --node-id ${stored.id}, or add --rename-node to make it node "${given}"`,
    )
  }
  const id = given ?? `node-${randomId(4)}`
  const store = stored?.store ?? randomId(8)
  write(dataDir, id, store)
  const note = stored !== null ? `node renamed from "${stored.id}" to "${id}" (--rename-node)` : given === null ? `no --node-id given: this node is "${id}" from now on (kept in ${NODE_ID_FILE})` : null
  return { id, store, note, renamed: stored !== null }
}
