import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { renderBars, renderChart, type Bar } from './chart.js'
import { formatValue, renderScenarioMarkdown, renderSummaryMarkdown } from './report.js'
import { RowStatus, type ScenarioResult } from './scenario.js'
import type { ProfileSummary } from './profiles.js'
import { Verdict, evaluateTargets } from './targets.js'

/**
 * The run as documentation: the SVG charts, and the Markdown block of docs/performance.md between
 * BEGIN and END (the rest of the file is written by hand and kept as it is).
 */

export const BEGIN = '<!-- bench:begin — written by `npm run bench -- --docs`; edit outside these markers -->'
export const END = '<!-- bench:end -->'

/** What a run wrote to bench/results/<name>.json. */
export interface RunRecord {
  readonly startedAt: string
  readonly durationMs: number
  readonly quick: boolean
  readonly command: string
  readonly machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string; platform: string }
  readonly placement: string
  readonly systems: readonly { id: string; label: string; peer: boolean; persistence: string; versions: Readonly<Record<string, string>> }[]
  readonly results: readonly ScenarioResult[]
  readonly profiles?: readonly ProfileSummary[]
}

/** The charts of a run, by file name: latency distributions per scenario, throughput, memory per connection. */
export function charts(run: RunRecord): Map<string, string> {
  const caption = `Murmur bench ${run.startedAt}${run.quick ? ' (quick)' : ''}: ${run.machine.cpus} cores, Node ${run.machine.node}, ${run.placement}`
  const out = new Map<string, string>()
  for (const r of run.results) {
    if (r.distributions.some((d) => d.summary.count > 0)) out.set(`${r.id}-latency.svg`, renderChart([r], caption))
  }
  const bars = (id: string, key: string): Bar[] =>
    (run.results.find((r) => r.id === id)?.rows ?? [])
      .filter((row) => row.status === RowStatus.ok && typeof row.values[key] === 'number' && Number.isFinite(row.values[key]))
      .map((row) => ({ label: row.system, value: row.values[key], invalid: row.invalid }))
  const ingest = run.results.find((r) => r.id === 'ingest')
  if (ingest !== undefined) {
    const raw = (ingest.params as { rawApplyPerSecond?: number }).rawApplyPerSecond
    const all = [...bars('ingest', 'rate'), ...(raw === undefined ? [] : [{ label: 'raw Y.applyUpdate (no server)', value: raw }])]
    out.set('ingest-throughput.svg', renderBars('ingest: updates/s applied, stored and fanned out (higher is better)', all, (v) => formatValue(v, 'per-s'), caption))
  }
  if (run.results.some((r) => r.id === 'idle')) {
    out.set('idle-memory.svg', renderBars('idle: server RSS per connection (lower is better)', bars('idle', 'perConnection'), (v) => formatValue(v, 'bytes'), caption))
  }
  return out
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|')
}

function systemsTable(run: RunRecord): string {
  const lines = ['| system | versions | persistence |', '|---|---|---|']
  for (const s of run.systems) {
    const versions = Object.entries(s.versions).map(([k, v]) => `${k} ${v}`).join(', ')
    lines.push(`| ${mdCell(s.label)} | ${mdCell(versions)} | ${mdCell(s.persistence)} |`)
  }
  return lines.join('\n')
}

/** The profile file name prefix of a Murmur row (cluster rows: their first node). */
function profilePrefix(scenario: string, systemId: string): string {
  if (systemId === 'murmur-cluster') return `${scenario}-cluster-n0-`
  if (systemId === 'murmur-cluster-hocuspocus') return `${scenario}-cluster-hocuspocus-n0-`
  return `${scenario}-${systemId}-`
}

/** For every target not met, the profile of the Murmur server it measured, when the run was profiled. */
function profilesSection(run: RunRecord): string {
  const missed = run.results.flatMap((r) => evaluateTargets(r.id, r.rows).filter((t) => t.verdict === Verdict.notMet))
  if (missed.length === 0) return ''
  const lines = ['### Where the time goes: targets not met', '']
  if (run.profiles === undefined || run.profiles.length === 0) {
    lines.push('This run was not profiled; `npm run bench -- --profile` adds the top functions of each Murmur server here.')
    return lines.join('\n')
  }
  lines.push(
    'Top functions by self time in the CPU profile of the Murmur server each missed target measured, as shares of the time it was not idle. ' +
      'Fanout and ingest profiles are cut to their measuring windows; the others cover the whole process, start-up (module loading) and warm-up included.',
    '',
  )
  const seen = new Set<string>()
  for (const t of missed) {
    const prefix = profilePrefix(t.spec.scenario, t.spec.murmur)
    // The name is the prefix and a 3-digit counter: `ingest-murmur-` must not match `ingest-murmur-yjs-…`.
    const p = run.profiles.find((x) => x.name.startsWith(prefix) && /^\d{3}$/.test(x.name.slice(prefix.length)))
    if (p === undefined || seen.has(p.name)) continue
    seen.add(p.name)
    const span = p.measuredOnly ? 'in the measuring window' : 'over the whole process'
    lines.push(`**${t.spec.scenario} ${t.spec.endpoint}** (${p.name}: ${(p.busyMs / 1000).toFixed(1)} s busy of ${(p.totalMs / 1000).toFixed(1)} s sampled ${span}):`, '', '| function | where | self time | share |', '|---|---|---:|---:|')
    for (const f of p.top) lines.push(`| ${mdCell(f.name)} | ${mdCell(f.where)} | ${f.selfMs.toFixed(0)} ms | ${(f.share * 100).toFixed(1)} % |`)
    lines.push('')
  }
  return lines.join('\n')
}

/** The generated block: how the run was made, the summary, the charts, every table, the profiles. */
export function docsBlock(run: RunRecord, chartDir: string, chartFiles: readonly string[]): string {
  const m = run.machine
  const when = run.startedAt.replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC')
  const img = (file: string, alt: string): string => (chartFiles.includes(file) ? `![${alt}](${chartDir}/${file})` : '')
  const parts = [
    BEGIN,
    '## Latest results',
    '',
    `Run of ${when}, \`${run.command}\` (${run.quick ? 'quick: smaller and shorter than the targets assume, not for figures' : 'full'}), ` +
      `${(run.durationMs / 60_000).toFixed(1)} minutes, on ${m.cpus} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GB, Node ${m.node}, ${m.platform}, loopback. ` +
      `Placement: ${run.placement}. Every row's note says how it ran: its generator processes and their CPU; a row whose ` +
      'generator was above 0.8 of a core is marked INVALID and gets no ratio.',
    '',
    '### Targets',
    '',
    'One row per endpoint and target, each a ratio of two figures of this run taken like for like (the same client library ' +
      'on both servers, or Murmur against a raw baseline measured beside it). "not met" is written wherever a ratio misses.',
    '',
    renderSummaryMarkdown(run.results),
    '',
    '### Charts',
    '',
    ...[
      ...chartFiles.filter((f) => f.endsWith('-latency.svg')).map((f) => img(f, `${f.replace(/-latency\.svg$/, '')} latency distributions`)),
      img('ingest-throughput.svg', 'ingest throughput'),
      img('idle-memory.svg', 'idle memory per connection'),
    ]
      .filter((s) => s !== '')
      .flatMap((s) => [s, '']),
    '### Systems',
    '',
    systemsTable(run),
    '',
    ...run.results.flatMap((r) => [renderScenarioMarkdown(r), '']),
    ...(profilesSection(run) === '' ? [] : [profilesSection(run), '']),
    END,
  ]
  return parts.join('\n')
}

/** Replace the generated block of `doc` (appended at the end when the file has none yet). */
export function replaceBlock(doc: string, block: string): string {
  const begin = doc.indexOf(BEGIN)
  const end = begin === -1 ? -1 : doc.indexOf(END, begin)
  if (begin === -1 || end === -1) return `${doc.trimEnd()}\n\n${block}\n`
  return doc.slice(0, begin) + block + doc.slice(end + END.length)
}

/** Write the charts to `<docsDir>/perf/` and the block into `<docsDir>/performance.md`. */
export function writeDocs(run: RunRecord, docsDir: string): string[] {
  const chartDir = path.join(docsDir, 'perf')
  mkdirSync(chartDir, { recursive: true })
  const files: string[] = []
  for (const [file, svg] of charts(run)) {
    writeFileSync(path.join(chartDir, file), svg)
    files.push(file)
  }
  const docPath = path.join(docsDir, 'performance.md')
  const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Performance\n'
  writeFileSync(docPath, replaceBlock(doc, docsBlock(run, 'perf', files)))
  return [docPath, ...files.map((f) => path.join(chartDir, f))]
}
