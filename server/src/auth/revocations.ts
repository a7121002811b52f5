import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs'
import { AuthConfigError } from './tokens.js'

/** What a revocation is checked against: a token's `jti` and `sub`. */
export interface RevocableToken {
  readonly tokenId: string | null
  readonly subject: string | null
}

/** The revoked token ids and subjects, as the file lists them. */
export interface RevocationList {
  readonly jti: ReadonlySet<string>
  readonly sub: ReadonlySet<string>
}

/** How often the file is looked at (its mtime and size): a revocation reaches live sockets within about this. */
export const REVOCATION_POLL_MS = 1000

interface Watcher {
  readonly token: RevocableToken
  readonly onRevoked: () => void
}

/**
 * The revocation list of `--auth-revocations`: a JSON file `{ "jti": [...], "sub": [...] }` the node
 * re-reads whenever it changes. A token whose `jti` or `sub` is listed is refused, and the live
 * connections of one are told (`watch`) so they close.
 */
export class Revocations {
  private list: RevocationList
  private readonly watchers = new Set<Watcher>()
  private readonly onChange = (now: Stats, before: Stats): void => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size) return
    this.reload()
  }

  constructor(
    private readonly file: string,
    /** A later read that fails keeps the previous list; this hears why. */
    private readonly onError: (err: Error) => void,
  ) {
    try {
      this.list = readRevocations(file)
    } catch (err) {
      throw new AuthConfigError(`--auth-revocations: ${(err as Error).message}`)
    }
    watchFile(file, { interval: REVOCATION_POLL_MS, persistent: false }, this.onChange)
  }

  get size(): number {
    return this.list.jti.size + this.list.sub.size
  }

  isRevoked(token: RevocableToken): boolean {
    return (token.tokenId !== null && this.list.jti.has(token.tokenId)) || (token.subject !== null && this.list.sub.has(token.subject))
  }

  /** Calls `onRevoked` once if `token` is revoked later. Returns the cancel function. */
  watch(token: RevocableToken, onRevoked: () => void): () => void {
    const watcher: Watcher = { token, onRevoked }
    this.watchers.add(watcher)
    return () => this.watchers.delete(watcher)
  }

  /** Read the file again now (it is also re-read on its own when it changes). */
  reload(): void {
    try {
      this.list = readRevocations(this.file)
    } catch (err) {
      this.onError(err as Error)
      return
    }
    for (const w of [...this.watchers]) {
      if (!this.isRevoked(w.token)) continue
      this.watchers.delete(w)
      w.onRevoked()
    }
  }

  close(): void {
    unwatchFile(this.file, this.onChange)
    this.watchers.clear()
  }
}

function readRevocations(file: string): RevocationList {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} must hold { "jti": [...], "sub": [...] }`)
  const field = (name: 'jti' | 'sub'): Set<string> => {
    const v = (parsed as Record<string, unknown>)[name]
    if (v === undefined) return new Set()
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${file}: "${name}" must be a list of strings`)
    return new Set(v as string[])
  }
  return { jti: field('jti'), sub: field('sub') }
}
