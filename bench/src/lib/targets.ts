import { RowStatus, type Row } from './scenario.js'

/**
 * The targets, one per endpoint and measure, each a ratio of two figures of one run taken like for like:
 * the same client library against both servers (or Murmur against a raw baseline measured in the same
 * row, or one Murmur setup against another). A target is met only when both rows are valid measurements
 * and the ratio is within it; a row whose load generator was the bottleneck makes it "invalid".
 */
export interface TargetSpec {
  readonly scenario: string
  readonly endpoint: string
  readonly measure: string
  /** The row measured. */
  readonly murmur: string
  /** What it is held against: another row (by system id; the best of several), or a ratio within the row. */
  readonly against: { readonly rows: readonly string[]; readonly key: string } | { readonly ratioKey: string; readonly reference: string }
  readonly key: string
  readonly better: 'lower' | 'higher'
  /** Met when value ≤ factor × reference (lower) or value ≥ factor × reference (higher). */
  readonly factor: number
  readonly text: string
}

export const Verdict = { met: 'met', notMet: 'not met', invalid: 'invalid', notRun: 'not run' } as const
export type Verdict = (typeof Verdict)[keyof typeof Verdict]

export interface TargetResult {
  readonly spec: TargetSpec
  readonly value: number | null
  /** The reference's figure and what it is (a peer row's label, or the raw baseline). */
  readonly reference: number | null
  readonly referenceLabel: string
  /** value ÷ reference. */
  readonly ratio: number | null
  readonly verdict: Verdict
  readonly why: string
}

const peerRows = (rows: readonly string[], key: string): { rows: readonly string[]; key: string } => ({ rows, key })

export const TARGETS: readonly TargetSpec[] = [
  { scenario: 'fanout', endpoint: '/sync, 3-node cluster', measure: 'p99', murmur: 'murmur-cluster', against: peerRows(['murmur'], 'p99'), key: 'p99', better: 'lower', factor: 1.5, text: 'cluster p99 ≤ 1.5× one node (SDK; no peer serves the SDK)' },
  { scenario: 'fanout', endpoint: '/yjs', measure: 'p99', murmur: 'murmur-yjs', against: peerRows(['y-websocket'], 'p99'), key: 'p99', better: 'lower', factor: 1, text: 'p99 ≤ y-websocket server (y-websocket clients)' },
  { scenario: 'fanout', endpoint: '/hocuspocus', measure: 'p99', murmur: 'murmur-hocuspocus', against: peerRows(['hocuspocus'], 'p99'), key: 'p99', better: 'lower', factor: 1, text: 'p99 ≤ Hocuspocus (Hocuspocus providers)' },
  { scenario: 'fanout', endpoint: '/hocuspocus, 3 nodes', measure: 'p99', murmur: 'murmur-cluster-hocuspocus', against: peerRows(['hocuspocus-redis'], 'p99'), key: 'p99', better: 'lower', factor: 1, text: 'p99 ≤ 3 Hocuspocus nodes + Redis (Hocuspocus providers)' },
  { scenario: 'automerge', endpoint: '/automerge', measure: 'p99', murmur: 'murmur-automerge-repo', against: peerRows(['automerge-repo'], 'p99'), key: 'p99', better: 'lower', factor: 1, text: "p99 ≤ automerge-repo's sync server (automerge-repo clients)" },
  { scenario: 'automerge', endpoint: '/sync (Automerge SDK)', measure: 'cold load', murmur: 'murmur', against: { ratioKey: 'loadVsRaw', reference: 'raw Automerge.load' }, key: 'loadMedian', better: 'lower', factor: 2, text: 'cold load ≤ 2× raw Automerge.load' },
  { scenario: 'ingest', endpoint: '/sync', measure: 'updates/s', murmur: 'murmur', against: { ratioKey: 'vsRaw', reference: 'raw Y.applyUpdate' }, key: 'rate', better: 'higher', factor: 0.4, text: '≥ 0.4× raw Y.applyUpdate' },
  { scenario: 'ingest', endpoint: '/yjs', measure: 'updates/s', murmur: 'murmur-yjs', against: peerRows(['y-websocket'], 'rate'), key: 'rate', better: 'higher', factor: 2, text: '≥ 2× y-websocket server (its protocol)' },
  { scenario: 'ingest', endpoint: '/hocuspocus', measure: 'updates/s', murmur: 'murmur-hocuspocus', against: peerRows(['hocuspocus'], 'rate'), key: 'rate', better: 'higher', factor: 2, text: '≥ 2× Hocuspocus (its protocol)' },
  { scenario: 'reconnect', endpoint: '/yjs', measure: 'all synced', murmur: 'murmur-yjs', against: peerRows(['y-websocket'], 'allSynced'), key: 'allSynced', better: 'lower', factor: 1, text: '≤ y-websocket server (y-websocket clients)' },
  { scenario: 'reconnect', endpoint: '/hocuspocus', measure: 'all synced', murmur: 'murmur-hocuspocus', against: peerRows(['hocuspocus'], 'allSynced'), key: 'allSynced', better: 'lower', factor: 1, text: '≤ Hocuspocus (Hocuspocus providers)' },
  { scenario: 'coldload', endpoint: '/sync', measure: 'time to content', murmur: 'murmur', against: { ratioKey: 'vsDecode', reference: 'raw Y.applyUpdate decode' }, key: 'median', better: 'lower', factor: 2, text: '≤ 2× raw decode' },
  { scenario: 'idle', endpoint: '/yjs', measure: 'RSS/connection', murmur: 'murmur-yjs', against: peerRows(['y-websocket'], 'perConnection'), key: 'perConnection', better: 'lower', factor: 1, text: '≤ y-websocket server (its protocol)' },
  { scenario: 'idle', endpoint: '/hocuspocus', measure: 'RSS/connection', murmur: 'murmur-hocuspocus', against: peerRows(['hocuspocus'], 'perConnection'), key: 'perConnection', better: 'lower', factor: 1, text: '≤ Hocuspocus (its protocol)' },
]

function okRow(rows: readonly Row[], id: string): Row | undefined {
  return rows.find((r) => r.systemId === id && r.status === RowStatus.ok)
}

export function evaluateTarget(spec: TargetSpec, rows: readonly Row[]): TargetResult {
  const none = (why: string, verdict: Verdict = Verdict.notRun): TargetResult => ({ spec, value: null, reference: null, referenceLabel: '', ratio: null, verdict, why })
  const row = okRow(rows, spec.murmur)
  if (row === undefined) return none(rows.some((r) => r.systemId === spec.murmur) ? 'Murmur row failed or n/a' : 'Murmur row not run')
  const value = row.values[spec.key]
  let reference: number
  let referenceLabel: string
  let ratio: number
  let invalid = row.invalid === true
  if ('rows' in spec.against) {
    const key = spec.against.key
    const refs = spec.against.rows.map((id) => okRow(rows, id)).filter((r): r is Row => r !== undefined && Number.isFinite(r.values[key]))
    if (refs.length === 0) return { ...none('reference row not run or failed'), value }
    const best = refs.reduce((a, b) => ((spec.better === 'higher' ? b.values[key] > a.values[key] : b.values[key] < a.values[key]) ? b : a))
    reference = best.values[key]
    referenceLabel = best.system
    ratio = value / reference
    invalid ||= best.invalid === true
  } else {
    ratio = row.values[spec.against.ratioKey]
    reference = value / ratio
    referenceLabel = spec.against.reference
  }
  if (!Number.isFinite(ratio)) return { spec, value, reference, referenceLabel, ratio: null, verdict: Verdict.notRun, why: 'no figure' }
  if (invalid) return { spec, value, reference, referenceLabel, ratio, verdict: Verdict.invalid, why: 'a load generator was the bottleneck' }
  const met = spec.better === 'lower' ? ratio <= spec.factor : ratio >= spec.factor
  return { spec, value, reference, referenceLabel, ratio, verdict: met ? Verdict.met : Verdict.notMet, why: '' }
}

export function evaluateTargets(scenario: string, rows: readonly Row[]): TargetResult[] {
  return TARGETS.filter((t) => t.scenario === scenario).map((t) => evaluateTarget(t, rows))
}

/** False when any target is not met, true when every one is met, null otherwise (not run, invalid). */
export function overallMet(results: readonly TargetResult[]): boolean | null {
  if (results.some((r) => r.verdict === Verdict.notMet)) return false
  if (results.length === 0 || results.some((r) => r.verdict !== Verdict.met)) return null
  return true
}

/** A scenario with its targets judged on its rows (scenarios without any keep their own verdict). */
export function withTargets<T extends { readonly id: string; readonly rows: readonly Row[]; readonly target: string; readonly targetMet: boolean | null }>(result: T): T {
  const results = evaluateTargets(result.id, result.rows)
  if (results.length === 0) return result
  return { ...result, target: results.map((r) => `${r.spec.endpoint}: ${r.spec.text}`).join('; '), targetMet: overallMet(results) }
}
