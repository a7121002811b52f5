import { EventEmitter } from 'node:events'
import { existsSync, readFileSync, renameSync, unwatchFile, watchFile, writeFileSync, type Stats } from 'node:fs'
import { AuthConfigError } from './tokens.js'

/** What a revocation is checked against: a token's `jti` and `sub`. */
export interface RevocableToken {
  readonly tokenId: string | null
  readonly subject: string | null
}

/** A revocation names a token by its id (`jti`) or every token of a subject (`sub`). */
export type RevocationKind = 'jti' | 'sub'

/**
 * One revocation, or the lifting of one. Entries of the same (kind, value) are merged by `at`: the later
 * decision wins (a revocation wins a tie), so nodes that exchange their entries in any order agree.
 */
export interface RevocationEntry {
  readonly kind: RevocationKind
  readonly value: string
  /** When it was decided (ms since the epoch); 0 for a plain string written into the file by hand. */
  readonly at: number
  /** When the revocation ends by itself (ms); null: never. */
  readonly expiresAt: number | null
  /** Lifted: the token is no longer revoked (kept so that nodes that missed the lift learn of it). */
  readonly lifted: boolean
}

/** The file an SQLite node keeps its revocations in, inside its data dir, without `--auth-revocations`. */
export const REVOCATIONS_FILE = 'revocations.json'

/** How often the file is looked at (its mtime and size): a revocation reaches live sockets within about this. */
export const REVOCATION_POLL_MS = 1000

/** Lifted entries are forgotten this long after the lift (a node away longer re-learns the revocation). */
const KEEP_LIFTED_MS = 30 * 24 * 3600 * 1000

/** Longest `jti` or `sub` a revocation may name. */
export const MAX_REVOKED_VALUE = 512

interface Watcher {
  readonly token: RevocableToken
  readonly onRevoked: () => void
}

/** Where a node keeps its revocations: the file, and whether it must exist at start (`--auth-revocations`). */
export interface RevocationFile {
  readonly path: string
  readonly mustExist: boolean
}

/**
 * The revoked token ids and subjects of a node. Kept in a JSON file (`--auth-revocations`, else
 * `revocations.json` in the data dir of an SQLite node; in memory only without either):
 * `{ "jti": [...], "sub": [...] }`, each item a string (written by hand: revoked until removed) or an
 * entry `{ "id", "at", "expiresAt"?, "lifted"? }` (written by the node). The node re-reads the file
 * whenever it changes. A token whose `jti` or `sub` is revoked is refused, and the live connections of
 * one are told (`watch`) so they close. `changed` hears every entry decided or merged here.
 */
export class Revocations extends EventEmitter<{ changed: [RevocationEntry[]] }> {
  private entries = new Map<string, RevocationEntry>()
  private readonly watchers = new Set<Watcher>()
  private readonly onChange = (now: Stats, before: Stats): void => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size) return
    this.reload()
  }

  constructor(
    readonly file: RevocationFile | null,
    /** A later read that fails keeps the previous list; this hears why. */
    private readonly onError: (err: Error) => void,
  ) {
    super()
    if (file === null) return
    if (file.mustExist || existsSync(file.path)) {
      try {
        this.entries = readRevocations(file.path)
      } catch (err) {
        throw new AuthConfigError(`--auth-revocations: ${(err as Error).message}`)
      }
    }
    watchFile(file.path, { interval: REVOCATION_POLL_MS, persistent: false }, this.onChange)
  }

  /** Revoked ids and subjects now. */
  get size(): number {
    return this.list().length
  }

  isRevoked(token: RevocableToken): boolean {
    return (token.tokenId !== null && this.active('jti', token.tokenId)) || (token.subject !== null && this.active('sub', token.subject))
  }

  /** The revocations in force, oldest first. */
  list(): RevocationEntry[] {
    const now = Date.now()
    return [...this.entries.values()].filter((e) => inForce(e, now)).sort((a, b) => a.at - b.at)
  }

  /** Every entry, lifted ones included (what another node needs to agree with this one). */
  all(): RevocationEntry[] {
    return [...this.entries.values()]
  }

  /** Revoke now (until `expiresAt`, if given); live connections of the token close. Returns the entry. */
  revoke(kind: RevocationKind, value: string, expiresAt: number | null): RevocationEntry {
    const entry: RevocationEntry = { kind, value, at: this.nextAt(kind, value), expiresAt, lifted: false }
    this.merge([entry])
    return entry
  }

  /** Lift a revocation; false when it was not in force. */
  lift(kind: RevocationKind, value: string): boolean {
    const current = this.entries.get(keyOf(kind, value))
    if (current === undefined || !inForce(current, Date.now())) return false
    this.merge([{ kind, value, at: this.nextAt(kind, value), expiresAt: null, lifted: true }])
    return true
  }

  /**
   * Take the entries another node decided (or this one): each replaces the one here when it is later.
   * What changed is written to the file, heard by `changed`, and closes the connections it revokes.
   */
  merge(incoming: readonly RevocationEntry[]): RevocationEntry[] {
    const changed: RevocationEntry[] = []
    for (const e of incoming) {
      const k = keyOf(e.kind, e.value)
      const current = this.entries.get(k)
      if (current !== undefined && !later(e, current)) continue
      this.entries.set(k, e)
      changed.push(e)
    }
    if (changed.length === 0) return changed
    // Revoked here and on the other nodes even when the file cannot be written; the caller hears why.
    let unsaved: unknown = null
    try {
      this.save()
    } catch (err) {
      unsaved = err
    }
    this.tellWatchers()
    this.emit('changed', changed)
    if (unsaved !== null) throw new Error(`the revocation applies but could not be written to ${this.file?.path}: ${(unsaved as Error).message}`, { cause: unsaved })
    return changed
  }

  /** Calls `onRevoked` once if `token` is revoked later. Returns the cancel function. */
  watch(token: RevocableToken, onRevoked: () => void): () => void {
    const watcher: Watcher = { token, onRevoked }
    this.watchers.add(watcher)
    return () => this.watchers.delete(watcher)
  }

  /** Read the file again now (it is also re-read on its own when it changes). */
  reload(): void {
    if (this.file === null) return
    try {
      this.entries = readRevocations(this.file.path)
    } catch (err) {
      this.onError(err as Error)
      return
    }
    this.tellWatchers()
  }

  close(): void {
    if (this.file !== null) unwatchFile(this.file.path, this.onChange)
    this.watchers.clear()
    this.removeAllListeners()
  }

  private active(kind: RevocationKind, value: string): boolean {
    const e = this.entries.get(keyOf(kind, value))
    return e !== undefined && inForce(e, Date.now())
  }

  /** A decision made here is later than any this node knows of for the same token, even with a clock behind. */
  private nextAt(kind: RevocationKind, value: string): number {
    return Math.max(Date.now(), (this.entries.get(keyOf(kind, value))?.at ?? 0) + 1)
  }

  private tellWatchers(): void {
    for (const w of [...this.watchers]) {
      if (!this.isRevoked(w.token)) continue
      this.watchers.delete(w)
      w.onRevoked()
    }
  }

  /** Written aside and renamed, so a reader never sees half a file. */
  private save(): void {
    if (this.file === null) return
    const now = Date.now()
    const kept = [...this.entries.values()].filter((e) => !(e.lifted && e.at < now - KEEP_LIFTED_MS) && !(e.expiresAt !== null && e.expiresAt <= now))
    const item = (e: RevocationEntry): string | Record<string, unknown> =>
      e.at === 0 && e.expiresAt === null && !e.lifted ? e.value : { id: e.value, at: e.at, ...(e.expiresAt === null ? {} : { expiresAt: e.expiresAt }), ...(e.lifted ? { lifted: true } : {}) }
    const body = {
      jti: kept.filter((e) => e.kind === 'jti').map(item),
      sub: kept.filter((e) => e.kind === 'sub').map(item),
    }
    const partial = `${this.file.path}.partial-${process.pid}`
    writeFileSync(partial, JSON.stringify(body, null, 2) + '\n', { flush: true })
    renameSync(partial, this.file.path)
  }
}

function keyOf(kind: RevocationKind, value: string): string {
  return `${kind}\u0000${value}`
}

function inForce(e: RevocationEntry, now: number): boolean {
  return !e.lifted && (e.expiresAt === null || e.expiresAt > now)
}

/** Whether `a` replaces `b`: later wins; on a tie a revocation beats a lift, then the later expiry. */
function later(a: RevocationEntry, b: RevocationEntry): boolean {
  if (a.at !== b.at) return a.at > b.at
  if (a.lifted !== b.lifted) return !a.lifted
  return (a.expiresAt ?? Infinity) > (b.expiresAt ?? Infinity)
}

/** An entry as the file or a peer gives it; throws on anything else. */
export function parseEntry(kind: RevocationKind, item: unknown): RevocationEntry {
  if (typeof item === 'string') return { kind, value: item, at: 0, expiresAt: null, lifted: false }
  if (typeof item !== 'object' || item === null) throw new Error(`"${kind}" items must be strings or { "id", "at" } entries`)
  const { id, at, expiresAt, lifted } = item as Record<string, unknown>
  if (typeof id !== 'string' || id === '' || id.length > MAX_REVOKED_VALUE) throw new Error(`a "${kind}" entry needs an "id" (1 to ${MAX_REVOKED_VALUE} characters)`)
  if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) throw new Error(`the "${kind}" entry "${id}" needs "at" (ms since the epoch)`)
  if (expiresAt !== undefined && expiresAt !== null && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) throw new Error(`the "${kind}" entry "${id}": "expiresAt" must be ms since the epoch`)
  if (lifted !== undefined && typeof lifted !== 'boolean') throw new Error(`the "${kind}" entry "${id}": "lifted" must be true or false`)
  return { kind, value: id, at, expiresAt: typeof expiresAt === 'number' ? expiresAt : null, lifted: lifted === true }
}

function readRevocations(file: string): Map<string, RevocationEntry> {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} must hold { "jti": [...], "sub": [...] }`)
  const entries = new Map<string, RevocationEntry>()
  for (const kind of ['jti', 'sub'] as const) {
    const v = (parsed as Record<string, unknown>)[kind]
    if (v === undefined) continue
    if (!Array.isArray(v)) throw new Error(`${file}: "${kind}" must be a list`)
    for (const item of v) {
      let e: RevocationEntry
      try {
        e = parseEntry(kind, item)
      } catch (err) {
        throw new Error(`${file}: ${(err as Error).message}`)
      }
      const current = entries.get(keyOf(kind, e.value))
      if (current === undefined || later(e, current)) entries.set(keyOf(kind, e.value), e)
    }
  }
  return entries
}
