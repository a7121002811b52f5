import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MurmurClient } from '@murmur/client'
import { RowStatus, type Column, type Row, type Scenario } from '../lib/scenario.js'
import { installedVersion } from '../lib/systems.js'

const here = path.dirname(fileURLToPath(import.meta.url))
/** The per-keystroke cost measurement, a script of its own (bench/src/automerge-keystroke.ts). */
const KEYSTROKE_SCRIPT = path.join(here, '..', 'automerge-keystroke.js')

/** Murmur serves Automerge docs to its SDK once the client can open them. */
function murmurSupportsAutomerge(): boolean {
  return typeof (MurmurClient.prototype as unknown as Record<string, unknown>).automerge === 'function'
}

interface KeystrokeLine {
  readonly label: string
  readonly median: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** Run the keystroke script with a time limit; its result lines are "<label> median X ms p99 Y ms max Z ms mean W ms". */
function runKeystrokes(args: string[], timeoutMs: number): Promise<{ lines: KeystrokeLine[]; header: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KEYSTROKE_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) {
        reject(new Error(signal === 'SIGKILL' ? `no result within ${timeoutMs / 1000} s` : `exited with ${code}: ${out.slice(-300)}`))
        return
      }
      const lines: KeystrokeLine[] = []
      const header: string[] = []
      for (const line of out.split('\n')) {
        const m = /^(.+?)\s+median ([\d.]+) ms\s+p99 ([\d.]+) ms\s+max ([\d.]+) ms\s+mean ([\d.]+) ms/.exec(line)
        if (m !== null) lines.push({ label: m[1].trim(), median: Number(m[2]), p99: Number(m[3]), max: Number(m[4]), mean: Number(m[5]) })
        else if (line.trim() !== '') header.push(line.trim())
      }
      resolve({ lines, header })
    })
  })
}

const COLUMNS: readonly Column[] = [
  { key: 'median', label: 'median', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'p99', unit: 'ms' },
  { key: 'max', label: 'max', unit: 'ms' },
  { key: 'mean', label: 'mean', unit: 'ms' },
]

export const automerge: Scenario = {
  id: 'automerge',
  title: 'automerge: fanout and coldload with Automerge docs; server CPU per keystroke',
  async run(ctx) {
    const started = performance.now()
    const rows: Row[] = []
    const notes: string[] = []
    const repo = `automerge-repo ${installedVersion('@automerge/automerge-repo')} (Repo + NodeWS server adapter)`
    if (murmurSupportsAutomerge()) {
      rows.push({ system: 'Murmur, Automerge fanout/coldload', systemId: 'murmur', peer: false, status: RowStatus.notYet, note: 'the SDK opens Automerge docs now: this comparison is the next scenario to write', values: {} })
    } else {
      rows.push({ system: 'Murmur, Automerge fanout/coldload', systemId: 'murmur', peer: false, status: RowStatus.notYet, note: 'not available yet: no Automerge handle in the SDK, no /automerge endpoint', values: {} })
    }
    rows.push({ system: repo, systemId: 'automerge-repo', peer: true, status: RowStatus.notYet, note: 'not run until Murmur’s side exists (a ratio needs both)', values: {} })

    if (existsSync(KEYSTROKE_SCRIPT)) {
      // The full 250k-op history takes minutes to build; the bench runs a shorter one (see notes).
      const ops = ctx.quick ? 10_000 : 50_000
      const keystrokes = ctx.quick ? 100 : 300
      ctx.log(`  per-keystroke cost on a ${ops.toLocaleString('en-US')}-op Automerge doc`)
      try {
        const { lines, header } = await runKeystrokes(['--ops', String(ops), '--keystrokes', String(keystrokes)], ctx.quick ? 60_000 : 120_000)
        if (lines.length === 0) throw new Error('no result lines in its output')
        for (const l of lines) {
          rows.push({ system: `Murmur server: ${l.label}`, systemId: 'murmur-keystroke', peer: false, status: RowStatus.ok, note: `${ops.toLocaleString('en-US')} ops of history`, values: { median: l.median, p99: l.p99, max: l.max, mean: l.mean } })
        }
        notes.push(...header.slice(0, 2))
      } catch (err) {
        rows.push({ system: 'Murmur server: Automerge per keystroke', systemId: 'murmur-keystroke', peer: false, status: RowStatus.failed, note: (err as Error).message.slice(0, 160), values: {} })
      }
      notes.push('the full 250k-op measurement (over two minutes here): node bench/dist/automerge-keystroke.js')
    }
    return {
      id: 'automerge',
      title: this.title,
      measures:
        `Fanout and coldload as for Yjs, with Automerge docs, Murmur against ${repo}: waits for Murmur's Automerge support. ` +
        `Meanwhile: server CPU for one incoming single-keystroke change on a long-history Automerge doc (bench/src/automerge-keystroke.ts).`,
      target: "p99 and time ≤ automerge-repo's; per keystroke ≤ 2 ms",
      params: {},
      columns: COLUMNS,
      ratioKey: null,
      rows,
      distributions: [],
      targetMet: null,
      notes,
      durationMs: performance.now() - started,
    }
  },
}
