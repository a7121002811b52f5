import { RowStatus, type Column, type Row, type ScenarioResult, type Unit } from './scenario.js'

/** Text tables for the terminal and for docs/performance.md (the same text, in a code block). */

export function formatValue(value: number | undefined, unit: Unit): string {
  if (value === undefined || Number.isNaN(value)) return '–'
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

function ratioHeader(result: ScenarioResult, column: Column | undefined): string {
  if (column === undefined) return ''
  return `${column.label} ÷ best peer${column.better === 'higher' ? ' (higher is better)' : ''}`
}

export function renderScenario(result: ScenarioResult): string {
  const column = result.columns.find((c) => c.key === result.ratioKey)
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

/** One line per scenario: Murmur's figure, the best peer's, the ratio, and the target. */
export function renderSummary(results: readonly ScenarioResult[]): string {
  const cells: string[][] = [['scenario', 'metric', 'Murmur', 'best peer', 'ratio', 'target', 'met']]
  for (const result of results) {
    // Scenarios without a peer to compare with show their first column.
    const column = result.columns.find((c) => c.key === result.ratioKey) ?? result.columns[0]
    const murmur = result.rows.find((r) => r.systemId === 'murmur')
    const { best, ratios } = ratiosToBestPeer(result)
    const value = (r: Row | null | undefined): string => {
      if (r === null || r === undefined) return 'none'
      if (r.status !== RowStatus.ok || column === undefined) return r.status
      return formatValue(r.values[column.key], column.unit)
    }
    const ratio = murmur !== undefined ? ratios.get(murmur) : undefined
    cells.push([
      result.id,
      column?.label ?? '–',
      value(murmur),
      best === null ? 'none' : `${value(best)} (${best.systemId})`,
      ratio === undefined ? '–' : `${ratio.toFixed(2)}×`,
      result.target,
      result.targetMet === null ? '–' : result.targetMet ? 'yes' : 'no',
    ])
  }
  return pad(cells)
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|')
}

/** A scenario as a Markdown table with its target and notes (for docs/performance.md). */
export function renderScenarioMarkdown(result: ScenarioResult): string {
  const column = result.columns.find((c) => c.key === result.ratioKey)
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
  const lines = ['| scenario | metric | Murmur | best peer | ratio | target | met |', '|---|---|---:|---:|---:|---|---|']
  for (const result of results) {
    const column = result.columns.find((c) => c.key === result.ratioKey) ?? result.columns[0]
    const murmur = result.rows.find((r) => r.systemId === 'murmur')
    const { best, ratios } = ratiosToBestPeer(result)
    const value = (r: Row | null | undefined): string => {
      if (r === null || r === undefined) return 'none'
      if (r.status !== RowStatus.ok || column === undefined) return r.status
      return formatValue(r.values[column.key], column.unit)
    }
    const ratio = murmur !== undefined ? ratios.get(murmur) : undefined
    const cells = [
      result.id,
      column?.label ?? '–',
      value(murmur),
      best === null ? 'none' : `${value(best)} (${best.systemId})`,
      ratio === undefined ? '–' : `${ratio.toFixed(2)}×`,
      result.target,
      result.targetMet === null ? '–' : result.targetMet ? 'yes' : 'no',
    ]
    lines.push(`| ${cells.map(mdCell).join(' | ')} |`)
  }
  return lines.join('\n')
}
