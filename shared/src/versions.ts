/*
 * The shapes of a doc's version history, shared by the node (which keeps versions and serves them over
 * HTTP) and the client SDK (which reads them): a version's description, a diff between two points, a
 * restore's result, and who wrote each span of a text.
 */

/** A kind of version: named by someone (kept until deleted) or made by the automatic policy. */
export const VersionKind = { named: 'named', auto: 'auto' } as const
export type VersionKind = (typeof VersionKind)[keyof typeof VersionKind]

/**
 * A version described without its state. `At` is how its time is given: ms since the epoch where the
 * node keeps it, ISO text in the HTTP API (`VersionInfo`).
 */
export interface VersionDescription<At> {
  /** Unique across the cluster (a random id), so that replicas store the same version once. */
  readonly id: string
  /** Null for automatic versions. */
  readonly name: string | null
  readonly kind: VersionKind
  /** Who made it: the token's subject, "anonymous", or "murmur:auto". */
  readonly principal: string
  /** When it was made. */
  readonly at: At
  /** The doc's log high-water mark when it was made (where its change range ends). */
  readonly seq: number
  /** Size of its encoded state. */
  readonly bytes: number
}

/** A version as the HTTP API describes it. */
export type VersionInfo = VersionDescription<string>

/** One run of a text edit: kept, removed or added. */
export type TextOp = { readonly retain: string } | { readonly delete: string } | { readonly insert: string }
export type TextDiff = TextOp[]

/** Between two points of a doc's history (`V`: how a version is described): who changed it, and what changed. */
export interface VersionDiffOf<V> {
  /** Null for the doc now (`current`). */
  readonly from: V | null
  readonly to: V | null
  /** Principals whose stored updates lie between the two (null: stored before attribution was kept). */
  readonly principals: (string | null)[]
  readonly changes: number
  readonly content: { readonly from: unknown; readonly to: unknown }
  /** Per root field holding text in both: the edit from `from` to `to`. */
  readonly texts: Record<string, TextDiff>
}

/** A diff as the HTTP API gives it. */
export type VersionDiff = VersionDiffOf<VersionInfo>

/** What a restore did (`V`: how a version is described). */
export interface RestoreResultOf<V> {
  readonly restored: V
  /** The version of the doc just before the restore: restoring it undoes the restore. */
  readonly before: V
  /** False when the doc already had the version's content. */
  readonly changed: boolean
}

/** A restore's result as the HTTP API gives it. */
export type RestoreResult = RestoreResultOf<VersionInfo>

/** A run of text written by one principal (null: unknown, e.g. stored before attribution was kept). */
export interface AuthoredSpan {
  readonly text: string
  readonly principal: string | null
}
