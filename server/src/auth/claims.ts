import { ErrorCode, MurmurError, isEngineName, type EngineName } from '@murmur/shared'

/** What a token lets its holder do with a doc. `none` exists so a broad rule can have exceptions. */
export const Access = { none: 'none', read: 'read', write: 'write' } as const
export type Access = (typeof Access)[keyof typeof Access]

/** What an operation needs. */
export type AccessNeed = typeof Access.read | typeof Access.write

const RANK: Record<Access, number> = { none: 0, read: 1, write: 2 }

/**
 * One entry of a token's `murmur.docs` claim. The pattern `[engine:]id[*]` reads:
 * - an optional engine (`yjs:` or `automerge:`); `*:` or no qualifier means either engine;
 * - the doc id, exact, or a prefix when it ends with `*` (`notes-*`; a lone `*` is every doc).
 */
export interface DocRule {
  readonly pattern: string
  readonly engine: EngineName | null
  readonly id: string
  readonly prefix: boolean
  readonly access: Access
}

/** The claim (in the JWT payload) that carries a token's rights. */
export const CLAIM = 'murmur'

/** Most rules one token may carry: matching is linear, and tokens travel in every handshake. */
const MAX_RULES = 1000

function isAccess(value: unknown): value is Access {
  return value === Access.none || value === Access.read || value === Access.write
}

/** Parse one `murmur.docs` key. */
export function parseRule(pattern: string, access: Access): DocRule {
  let engine: EngineName | null = null
  let rest = pattern
  const colon = pattern.indexOf(':')
  if (colon > 0) {
    const head = pattern.slice(0, colon)
    if (isEngineName(head)) {
      engine = head
      rest = pattern.slice(colon + 1)
    } else if (head === '*') {
      rest = pattern.slice(colon + 1)
    }
  }
  const prefix = rest.endsWith('*')
  return { pattern, engine, id: prefix ? rest.slice(0, -1) : rest, prefix, access }
}

/**
 * The rules of a verified JWT payload: `{ "murmur": { "docs": { "<pattern>": "read" | "write" | "none" } } }`.
 * A payload without the claim grants nothing. A malformed claim makes the token unusable rather than
 * half-understood.
 */
export function rulesFromPayload(payload: Record<string, unknown>): DocRule[] {
  const claim = payload[CLAIM]
  if (claim === undefined) return []
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) throw malformed('the murmur claim must be an object')
  const docs = (claim as Record<string, unknown>).docs
  if (docs === undefined) return []
  if (typeof docs !== 'object' || docs === null || Array.isArray(docs)) throw malformed('murmur.docs must be an object')
  const entries = Object.entries(docs as Record<string, unknown>)
  if (entries.length > MAX_RULES) throw malformed(`murmur.docs has more than ${MAX_RULES} entries`)
  return entries.map(([pattern, access]) => {
    if (!isAccess(access)) throw malformed(`murmur.docs["${pattern.slice(0, 40)}"] must be "read", "write" or "none"`)
    return parseRule(pattern, access)
  })
}

/**
 * Whether a verified payload carries `{ "murmur": { "admin": true } }`, which opens the `/v1/admin/…`
 * routes (the state of the node and the cluster; no doc contents). Anything but `true` is not admin.
 */
export function adminFromPayload(payload: Record<string, unknown>): boolean {
  const claim = payload[CLAIM]
  return typeof claim === 'object' && claim !== null && (claim as Record<string, unknown>).admin === true
}

function malformed(message: string): MurmurError {
  return new MurmurError(ErrorCode.UNAUTHORIZED, `malformed token claim: ${message}`)
}

function matches(rule: DocRule, engine: EngineName, docId: string): boolean {
  if (rule.engine !== null && rule.engine !== engine) return false
  return rule.prefix ? docId.startsWith(rule.id) : docId === rule.id
}

/** Exact beats prefix, a longer prefix beats a shorter one, and an engine-qualified rule beats one without. */
function specificity(rule: DocRule): [number, number, number] {
  return [rule.prefix ? 0 : 1, rule.id.length, rule.engine !== null ? 1 : 0]
}

function moreSpecific(a: DocRule, b: DocRule): boolean {
  const x = specificity(a)
  const y = specificity(b)
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] > y[i]
  // Two rules equally specific (`notes` and `*:notes`): the narrower right wins.
  return RANK[a.access] < RANK[b.access]
}

/** The access the most specific matching rule gives; `none` when no rule matches. */
export function accessFor(rules: readonly DocRule[], engine: EngineName, docId: string): Access {
  let best: DocRule | null = null
  for (const rule of rules) {
    if (!matches(rule, engine, docId)) continue
    if (best === null || moreSpecific(rule, best)) best = rule
  }
  return best?.access ?? Access.none
}

/** Whether `access` covers `need` (write implies read). */
export function allows(access: Access, need: AccessNeed): boolean {
  return RANK[access] >= RANK[need]
}
