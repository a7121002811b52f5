import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
/** The per-keystroke cost measurement, a script of its own (bench/src/automerge-keystroke.ts). */
export const KEYSTROKE_SCRIPT = path.join(here, '..', 'automerge-keystroke.js')

export interface KeystrokeLine {
  readonly label: string
  readonly median: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

export function keystrokeScriptExists(): boolean {
  return existsSync(KEYSTROKE_SCRIPT)
}

/**
 * Run the keystroke script with a time limit and read its result lines, which look like
 * "<label>  median X ms  p99 Y ms  max Z ms …" or "<label>  cpu ms: median X  p99 Y  max Z | wall ms: …";
 * other non-empty lines are returned as `header`.
 */
export function runKeystrokes(args: string[], timeoutMs: number): Promise<{ lines: KeystrokeLine[]; header: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KEYSTROKE_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) {
        reject(new Error(signal === 'SIGKILL' ? `no result within ${timeoutMs / 1000} s` : `exited with ${code}: ${out.trim().split('\n').slice(-3).join(' ').slice(-200)}`))
        return
      }
      const lines: KeystrokeLine[] = []
      const header: string[] = []
      for (const line of out.split('\n')) {
        // The first figures of a line (CPU time where the script reports CPU and wall time both).
        const m = /^(.+?)\s+(?:cpu ms:\s+)?median ([\d.]+)(?: ms)?\s+p99 ([\d.]+)(?: ms)?\s+max ([\d.]+)(?: ms)?(?:\s+mean ([\d.]+))?/.exec(line)
        if (m !== null) lines.push({ label: m[1].trim(), median: Number(m[2]), p99: Number(m[3]), max: Number(m[4]), mean: Number(m[5] ?? NaN) })
        else if (line.trim() !== '') header.push(line.trim())
      }
      resolve({ lines, header })
    })
  })
}
