import type { Distribution, ScenarioResult } from './scenario.js'

/**
 * Latency distributions as an SVG, written by hand: one panel per scenario that has distributions,
 * percentile on the x axis with the tail stretched (0, 90, 99, 99.9 % equally spaced, so tails are
 * visible) and latency on a log y axis.
 */

const WIDTH = 1100
const PANEL_HEIGHT = 360
const MARGIN = { left: 70, right: 430, top: 40, bottom: 45 }
/** Room for one legend entry (name and figures). */
const LEGEND_ROW = 36
const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#57606a', '#0a8a8a', '#e16f24', '#6e7781']

/** A panel tall enough for its legend. */
function panelHeight(series: number): number {
  return Math.max(PANEL_HEIGHT, MARGIN.top + 14 + series * LEGEND_ROW + MARGIN.bottom)
}
/** x position of the max sample, a little past 99.9 %. */
const MAX_X = 3.3

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** -log10(1 - q): 0 at the minimum, 1 at p90, 2 at p99, 3 at p99.9. */
function tailX(q: number): number {
  return q >= 1 ? MAX_X : Math.min(3, -Math.log10(1 - q))
}

function niceTicks(min: number, max: number): number[] {
  const ticks: number[] = []
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (v >= min && v <= max) ticks.push(v)
    }
  }
  return ticks
}

function label(v: number): string {
  if (v >= 1000) return `${v / 1000} s`
  if (v >= 1) return `${v} ms`
  return `${Number(v.toPrecision(2))} ms`
}

function panel(title: string, series: readonly Distribution[], top: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const height = panelHeight(series.length)
  const plotH = height - MARGIN.top - MARGIN.bottom
  const values = series.flatMap((s) => s.cdf.map(([v]) => v)).filter((v) => v > 0)
  let lo = Math.max(0.01, Math.min(...values))
  let hi = Math.max(...values)
  if (!(hi > lo)) hi = lo * 10
  lo = 10 ** Math.floor(Math.log10(lo))
  hi = 10 ** Math.ceil(Math.log10(hi))
  const x = (q: number): number => MARGIN.left + (tailX(q) / MAX_X) * plotW
  const y = (v: number): number => top + MARGIN.top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH
  const out: string[] = []
  out.push(`<text x="${MARGIN.left}" y="${top + 24}" font-size="15" font-weight="bold">${esc(title)}</text>`)
  out.push(`<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#8c959f"/>`)
  for (const t of niceTicks(lo, hi)) {
    const ty = y(t).toFixed(1)
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${ty}" y2="${ty}" stroke="#eaeef2"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${ty}" font-size="11" text-anchor="end" dominant-baseline="middle">${label(t)}</text>`)
  }
  for (const [q, name] of [[0, '0 %'], [0.5, '50 %'], [0.9, '90 %'], [0.99, '99 %'], [0.999, '99.9 %'], [1, 'max']] as const) {
    const tx = x(q).toFixed(1)
    out.push(`<line x1="${tx}" x2="${tx}" y1="${top + MARGIN.top}" y2="${top + MARGIN.top + plotH}" stroke="#eaeef2"/>`)
    out.push(`<text x="${tx}" y="${top + MARGIN.top + plotH + 16}" font-size="11" text-anchor="middle">${name}</text>`)
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${top + height - 6}" font-size="12" text-anchor="middle">percentile</text>`)
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]
    const points = [[s.summary.min, 0] as [number, number], ...s.cdf].map(([v, q]) => `${x(q).toFixed(1)},${y(v).toFixed(1)}`)
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`)
    const ly = top + MARGIN.top + 14 + i * LEGEND_ROW
    const lx = MARGIN.left + plotW + 14
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`)
    out.push(`<text x="${lx + 24}" y="${ly + 4}" font-size="12">${esc(s.label)}</text>`)
    out.push(
      `<text x="${lx + 24}" y="${ly + 19}" font-size="11" fill="#57606a">median ${label(Number(s.summary.median.toPrecision(3)))}, p99 ${label(Number(s.summary.p99.toPrecision(3)))}</text>`,
    )
  })
  return out.join('\n')
}

/** A distribution with samples (NaN figures come back from the JSON as null). */
function drawable(d: Distribution): boolean {
  return d.summary.count > 0 && typeof d.summary.median === 'number' && typeof d.summary.p99 === 'number'
}

export function renderChart(results: readonly ScenarioResult[], caption: string): string {
  const panels = results.map((r) => ({ ...r, distributions: r.distributions.filter(drawable) })).filter((r) => r.distributions.length > 0)
  const tops: number[] = []
  let height = 0
  for (const r of panels) {
    tops.push(height)
    height += panelHeight(r.distributions.length)
  }
  height = Math.max(height, PANEL_HEIGHT) + 30
  const body =
    panels.length > 0
      ? panels.map((r, i) => panel(r.title, r.distributions, tops[i])).join('\n')
      : `<text x="20" y="40" font-size="14">No latency distributions in this run (${esc(results.map((r) => r.id).join(', '))}).</text>`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    body,
    `<text x="10" y="${height - 10}" font-size="11" fill="#57606a">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n')
}

/** One bar of a bar chart. */
export interface Bar {
  readonly label: string
  readonly value: number
  /** Drawn hatched-grey: not a measurement of the server (a load generator was the bottleneck). */
  readonly invalid?: boolean
}

const BAR_HEIGHT = 26
const BAR_LEFT = 330
const BAR_RIGHT = 140

/** Horizontal bars, one per system, with the value written at the end of each. */
export function renderBars(title: string, bars: readonly Bar[], format: (v: number) => string, caption: string): string {
  const top = 50
  const height = top + bars.length * (BAR_HEIGHT + 8) + 40
  const plotW = WIDTH - BAR_LEFT - BAR_RIGHT
  const max = Math.max(...bars.map((b) => b.value).filter(Number.isFinite), 0)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="28" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ]
  bars.forEach((b, i) => {
    const y = top + i * (BAR_HEIGHT + 8)
    const w = max > 0 && Number.isFinite(b.value) ? Math.max(1, (b.value / max) * plotW) : 0
    const color = b.invalid === true ? '#afb8c1' : COLORS[i % COLORS.length]
    out.push(`<text x="${BAR_LEFT - 8}" y="${y + BAR_HEIGHT / 2}" font-size="12" text-anchor="end" dominant-baseline="middle">${esc(b.label)}</text>`)
    out.push(`<rect x="${BAR_LEFT}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>`)
    const text = Number.isFinite(b.value) ? format(b.value) + (b.invalid === true ? ' (invalid)' : '') : 'not measured'
    out.push(`<text x="${(BAR_LEFT + w + 6).toFixed(1)}" y="${y + BAR_HEIGHT / 2}" font-size="12" dominant-baseline="middle">${esc(text)}</text>`)
  })
  out.push(`<text x="10" y="${height - 10}" font-size="11" fill="#57606a">${esc(caption)}</text>`, '</svg>', '')
  return out.join('\n')
}
