import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { ErrorCode, MurmurError, getEngine, type AuthoredSpan, type RestoreResultOf, type TextDiff, type VersionDiffOf, type VersionKind } from '@murmur/shared'
import type { DocRegistry } from '../docs/registry.js'
import type { DocKey, StoredVersion, VersionInfo, VersionStore } from '../storage/storage.js'
import { textDiff } from './text-diff.js'

/** The origin of changes a restore makes (delivered to every subscriber, like the HTTP API's). */
export const RESTORE_ORIGIN = Symbol('murmur:restore')

/** Longest version name accepted. */
export const MAX_VERSION_NAME = 200

/** What a version's content read gives. */
export interface VersionContent {
  readonly version: VersionInfo
  readonly content: unknown
}

/** Between two points of a doc's history: who changed it, and what changed in its root texts. */
export type VersionDiff = VersionDiffOf<VersionInfo>

/** The doc now, as a diff endpoint: no stored version, its live state and seq. */
const CURRENT = 'current'

/**
 * A doc's versions: made from the live doc (its state once durable), kept in storage whatever
 * compaction does, read back as content, compared, restored as a new forward change.
 */
export class DocVersions extends EventEmitter<{ stored: [DocKey, StoredVersion]; removed: [DocKey, string] }> {
  constructor(
    private readonly registry: DocRegistry,
    private readonly storage: VersionStore,
  ) {
    super()
  }

  /** Make a version of the doc as it is now. */
  async create(key: DocKey, by: { name: string | null; kind: VersionKind; principal: string }): Promise<VersionInfo> {
    if (by.name !== null && (by.name.length === 0 || by.name.length > MAX_VERSION_NAME)) {
      throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `a version name has 1 to ${MAX_VERSION_NAME} characters`)
    }
    const live = await this.registry.get(key)
    await live.whenDurable()
    const state = live.doc.encodeSnapshot()
    const version: StoredVersion = { id: randomUUID(), name: by.name, kind: by.kind, principal: by.principal, at: Date.now(), seq: live.seq, state }
    await this.storage.putVersion(key, version)
    // Replication pushes it to the doc's other nodes.
    this.emit('stored', key, version)
    const { state: _state, ...info } = version
    return { ...info, bytes: state.length }
  }

  list(key: DocKey): Promise<VersionInfo[]> {
    return this.storage.versions(key)
  }

  /** A version with its state; VERSION_UNAVAILABLE when there is none by that id. */
  async get(key: DocKey, id: string): Promise<StoredVersion> {
    const version = await this.storage.version(key, id)
    if (version === null) throw new MurmurError(ErrorCode.VERSION_NOT_FOUND, `no version ${id.slice(0, 64)} of this doc`)
    return version
  }

  async content(key: DocKey, id: string): Promise<VersionContent> {
    const version = await this.get(key, id)
    const { state, ...info } = version
    return { version: { ...info, bytes: state.length }, content: contentOf(key, state) }
  }

  /** From version `id` to version `to` (or `current`, the doc now). */
  async diff(key: DocKey, id: string, to: string): Promise<VersionDiff> {
    const [a, b] = await Promise.all([this.point(key, id), this.point(key, to)])
    const [lo, hi] = a.seq <= b.seq ? [a.seq, b.seq] : [b.seq, a.seq]
    const records = await this.storage.changes(key, lo, hi)
    const from = contentOf(key, a.state)
    const toContent = contentOf(key, b.state)
    return {
      from: a.info,
      to: b.info,
      principals: [...new Set(records.map((r) => r.principal))],
      changes: records.length,
      content: { from, to: toContent },
      texts: textDiffs(from, toContent),
    }
  }

  /**
   * Restore version `id`: first a version of the doc as it is (so restoring that one undoes this), then
   * one change, attributed to `principal`, that gives the doc the version's content. Every client,
   * online or offline, merges it like any other change.
   */
  async restore(key: DocKey, id: string, principal: string): Promise<RestoreResultOf<VersionInfo>> {
    const version = await this.get(key, id)
    const engine = getEngine(key.engine)
    if (engine.restoreUpdate === undefined) throw new MurmurError(ErrorCode.MALFORMED_MESSAGE, `the ${key.engine} engine cannot restore versions`)
    const label = version.name ?? new Date(version.at).toISOString()
    const before = await this.create(key, { name: `Before restoring ${label}`.slice(0, MAX_VERSION_NAME), kind: 'auto', principal })
    const live = await this.registry.get(key)
    const update = engine.restoreUpdate(live.doc.encodeSnapshot(), version.state)
    if (update !== null) await live.apply(update, { from: RESTORE_ORIGIN, by: principal })
    const { state, ...info } = version
    return { restored: { ...info, bytes: state.length }, before, changed: update !== null }
  }

  /** Delete a version; VERSION_NOT_FOUND when there is none by that id. */
  async delete(key: DocKey, id: string): Promise<void> {
    if (!(await this.remove(key, id))) throw new MurmurError(ErrorCode.VERSION_NOT_FOUND, `no version ${id.slice(0, 64)} of this doc`)
  }

  /** Delete a version if it is there (pruning, a peer's delete); whether it was. */
  async remove(key: DocKey, id: string): Promise<boolean> {
    const removed = await this.storage.deleteVersion(key, id)
    if (removed) this.emit('removed', key, id)
    return removed
  }

  /**
   * Who wrote each span of the root text `field`, in version `id` (or `current`), from the stored
   * updates' change records. Null when the engine cannot say.
   */
  async authors(key: DocKey, id: string, field: string): Promise<AuthoredSpan[] | null> {
    const engine = getEngine(key.engine)
    if (engine.textAuthors === undefined) return null
    const point = await this.point(key, id)
    const records = await this.storage.changes(key, 0, point.seq)
    return engine.textAuthors(point.state, field, records)
  }

  private async point(key: DocKey, id: string): Promise<{ info: VersionInfo | null; seq: number; state: Uint8Array }> {
    if (id === CURRENT) {
      const live = await this.registry.get(key)
      await live.whenDurable()
      return { info: null, seq: live.seq, state: live.doc.encodeSnapshot() }
    }
    const { state, ...info } = await this.get(key, id)
    return { info: { ...info, bytes: state.length }, seq: info.seq, state }
  }
}

function contentOf(key: DocKey, state: Uint8Array): unknown {
  let doc
  try {
    doc = getEngine(key.engine).load(state, [])
  } catch (err) {
    throw new MurmurError(ErrorCode.LOAD_FAILED, 'the stored version could not be decoded', { cause: err })
  }
  try {
    return doc.toJSON()
  } finally {
    doc.destroy()
  }
}

function textDiffs(from: unknown, to: unknown): Record<string, TextDiff> {
  const out: Record<string, TextDiff> = {}
  if (typeof from !== 'object' || from === null || typeof to !== 'object' || to === null) return out
  const a = from as Record<string, unknown>
  const b = to as Record<string, unknown>
  for (const field of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[field] ?? ''
    const y = b[field] ?? ''
    if (typeof x === 'string' && typeof y === 'string') out[field] = textDiff(x, y)
  }
  return out
}
