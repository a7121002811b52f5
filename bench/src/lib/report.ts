import { RowStatus, type Column, type Row, type ScenarioResult, type Unit } from './scenario.js'
import { TARGETS, Verdict, evaluateTargets } from './targets.js'

/** Text tables for the terminal and for docs/performance.md (the same text, in a code block). */

export function formatValue(value: number | undefined, unit: Unit): string {
  // NaN is written to the JSON as null: a table regenerated from it must read the same.
  if (typeof value !== 'number' || Number.isNaN(value)) return '–'
  switch (unit) {
    case 'ms':
      if (value >= 10_000) return `${(value / 1000).toFixed(1)} s`
      if (value >= 100) return `${value.toFixed(0)} ms`
      if (value >= 10) return `${value.toFixed(1)} ms`
      return `${value.toFixed(2)} ms`
    case 's':
      return `${value.toFixed(value >= 100 ? 0 : 2)} s`
    case 'per-s':
      return value >= 10_000 ? `${(value / 1000).toFixed(1)}k/s` : `${value.toFixed(0)}/s`
    case 'bytes':
      if (Math.abs(value) >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MB`
      if (Math.abs(value) >= 1024) return `${(value / 1024).toFixed(1)} KB`
      return `${value.toFixed(0)} B`
    case 'ratio':
      return `${value.toFixed(2)}×`
    case 'percent':
      return `${(value * 100).toFixed(value >= 0.9995 && value <= 1.0005 ? 0 : 1)} %`
    case 'cores':
      return value.toFixed(2)
    case 'count':
      return value.toFixed(0)
  }
}

/** Each row's value of the ratio column divided by the best peer's (null where there is no ratio). */
export function ratiosToBestPeer(result: ScenarioResult): { best: Row | null; ratios: Map<Row, number> } {
  const ratios = new Map<Row, number>()
  const column = result.columns.find((c) => c.key === result.ratioKey)
  if (column === undefined || result.ratioKey === null) return { best: null, ratios }
  const key = result.ratioKey
  const peers = result.rows.filter((r) => r.peer && r.noRatio !== true && r.status === RowStatus.ok && Number.isFinite(r.values[key]))
  if (peers.length === 0) return { best: null, ratios }
  const best = peers.reduce((a, b) => ((column.better === 'higher' ? b.values[key] > a.values[key] : b.values[key] < a.values[key]) ? b : a))
  for (const r of result.rows) {
    if (r.noRatio === true) continue
    if (r.status === RowStatus.ok && Number.isFinite(r.values[key]) && best.values[key] !== 0) ratios.set(r, r.values[key] / best.values[key])
  }
  return { best, ratios }
}

function pad(cells: string[][]): string {
  const widths: number[] = []
  for (const row of cells) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  return cells
    .map((row) =>
      row
        .map((c, i) => (i === 0 || i === row.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/**
 * The column a scenario's table shows a ratio to the best peer on; none where the scenario has targets of
 * its own (their ratios, like for like, are in the summary: a best peer of any client would mix clients).
 */
function ratioColumn(result: ScenarioResult): Column | undefined {
  if (TARGETS.some((t) => t.scenario === result.id)) return undefined
  return result.columns.find((c) => c.key === result.ratioKey)
}

function ratioHeader(result: ScenarioResult, column: Column | undefined): string {
  if (column === undefined) return ''
  return `${column.label} ÷ best peer${column.better === 'higher' ? ' (higher is better)' : ''}`
}

export function renderScenario(result: ScenarioResult): string {
  const column = ratioColumn(result)
  const { ratios } = ratiosToBestPeer(result)
  const header = ['system', ...result.columns.map((c) => c.label)]
  if (column !== undefined) header.push(ratioHeader(result, column))
  header.push('persistence / notes')
  const cells: string[][] = [header]
  for (const r of result.rows) {
    if (r.status !== RowStatus.ok) {
      const blank = result.columns.map((_, i) => (i === 0 ? r.status : ''))
      cells.push([r.system, ...blank, ...(column !== undefined ? [''] : []), r.note])
      continue
    }
    const row = [r.system, ...result.columns.map((c) => formatValue(r.values[c.key], c.unit))]
    if (column !== undefined) {
      const ratio = ratios.get(r)
      row.push(ratio === undefined ? '–' : `${ratio.toFixed(2)}×`)
    }
    row.push(r.note)
    cells.push(row)
  }
  const lines = [
    `${result.title}  (${(result.durationMs / 1000).toFixed(0)} s)`,
    `target: ${result.target}${result.targetMet === null ? '' : result.targetMet ? '  [met]' : '  [NOT met]'}`,
    pad(cells),
  ]
  for (const n of result.notes) lines.push(`note: ${n}`)
  return lines.join('\n')
}

/** One line of the summary: a target of one endpoint, or a scenario without per-endpoint targets. */
interface SummaryLine {
  readonly scenario: string
  readonly endpoint: string
  readonly measure: string
  readonly murmur: string
  readonly reference: string
  readonly ratio: string
  readonly target: string
  readonly verdict: string
}

const SUMMARY_HEADER = ['scenario', 'endpoint', 'measure', 'Murmur', 'against', 'ratio', 'target', 'verdict']

function verdictOf(met: boolean | null): string {
  return met === null ? '–' : met ? Verdict.met : Verdict.notMet
}

/** One line per target (endpoint and measure), like for like; one per scenario that has none. */
export function summaryLines(results: readonly ScenarioResult[]): SummaryLine[] {
  const lines: SummaryLine[] = []
  for (const result of results) {
    const judged = evaluateTargets(result.id, result.rows)
    const unitOf = (key: string): Unit => result.columns.find((c) => c.key === key)?.unit ?? 'count'
    if (judged.length > 0) {
      for (const t of judged) {
        const unit = unitOf(t.spec.key)
        lines.push({
          scenario: result.id,
          endpoint: t.spec.endpoint,
          measure: t.spec.measure,
          murmur: t.value === null ? t.why : formatValue(t.value, unit),
          reference: t.reference === null ? '–' : `${formatValue(t.reference, unit)} (${t.referenceLabel})`,
          ratio: t.ratio === null ? '–' : `${t.ratio.toFixed(2)}×`,
          target: t.spec.text,
          verdict: t.verdict === Verdict.invalid || t.verdict === Verdict.notRun ? `${t.verdict} (${t.why})` : t.verdict,
        })
      }
      continue
    }
    // Scenarios without a peer to compare with show their first column.
    const column = result.columns.find((c) => c.key === result.ratioKey) ?? result.columns[0]
    const murmur = result.rows.find((r) => !r.peer && r.noRatio !== true)
    const { best, ratios } = ratiosToBestPeer(result)
    const value = (r: Row | null | undefined): string => {
      if (r === null || r === undefined) return 'none'
      if (r.status !== RowStatus.ok || column === undefined) return r.status
      return formatValue(r.values[column.key], column.unit)
    }
    const ratio = murmur !== undefined ? ratios.get(murmur) : undefined
    lines.push({
      scenario: result.id,
      endpoint: murmur?.system ?? '–',
      measure: column?.label ?? '–',
      murmur: value(murmur),
      reference: best === null ? 'none' : `${value(best)} (${best.system})`,
      ratio: ratio === undefined ? '–' : `${ratio.toFixed(2)}×`,
      target: result.target,
      verdict: verdictOf(result.targetMet),
    })
  }
  return lines
}

function summaryCells(l: SummaryLine): string[] {
  return [l.scenario, l.endpoint, l.measure, l.murmur, l.reference, l.ratio, l.target, l.verdict]
}

export function renderSummary(results: readonly ScenarioResult[]): string {
  return pad([SUMMARY_HEADER, ...summaryLines(results).map(summaryCells)])
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|')
}

/** A scenario as a Markdown table with its target and notes (for docs/performance.md). */
export function renderScenarioMarkdown(result: ScenarioResult): string {
  const column = ratioColumn(result)
  const { ratios } = ratiosToBestPeer(result)
  const header = ['system', ...result.columns.map((c) => c.label)]
  if (column !== undefined) header.push(ratioHeader(result, column))
  header.push('persistence / notes')
  const lines = [
    `### ${result.title}`,
    '',
    `Target: ${result.target}${result.targetMet === null ? '' : result.targetMet ? ' — **met**' : ' — **not met**'}.`,
    '',
    `| ${header.map(mdCell).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 || i === header.length - 1 ? '---' : '---:')).join('|')}|`,
  ]
  for (const r of result.rows) {
    const cells =
      r.status !== RowStatus.ok
        ? [r.system, ...result.columns.map((_, i) => (i === 0 ? r.status : '')), ...(column !== undefined ? [''] : []), r.note]
        : [
            r.system,
            ...result.columns.map((c) => formatValue(r.values[c.key], c.unit)),
            ...(column !== undefined ? [ratios.has(r) ? `${(ratios.get(r) as number).toFixed(2)}×` : '–'] : []),
            r.note,
          ]
    lines.push(`| ${cells.map(mdCell).join(' | ')} |`)
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`))
  return lines.join('\n')
}

export function renderSummaryMarkdown(results: readonly ScenarioResult[]): string {
  const lines = [`| ${SUMMARY_HEADER.join(' | ')} |`, '|---|---|---|---:|---:|---:|---|---|']
  for (const l of summaryLines(results)) {
    const cells = summaryCells(l)
    // A verdict stands out in the table: bold when met, bold and marked when not.
    cells[7] = l.verdict === Verdict.met ? '**met**' : l.verdict === Verdict.notMet ? '**not met** ✗' : l.verdict
    lines.push(`| ${cells.map(mdCell).join(' | ')} |`)
  }
  return lines.join('\n')
}
