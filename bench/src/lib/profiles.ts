import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'

/**
 * The top functions by self time of each V8 .cpuprofile a `--profile` run wrote: where a server's time
 * goes, for the report next to a target not met.
 */
export interface ProfileSummary {
  readonly name: string
  readonly totalMs: number
  /** Sampled time not idle: shares are of this. */
  readonly busyMs: number
  /** Summarized over the measuring windows only (not start-up and warm-up). */
  readonly measuredOnly: boolean
  readonly top: readonly { readonly name: string; readonly where: string; readonly selfMs: number; readonly share: number }[]
}

interface CpuProfile {
  readonly nodes: readonly { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
  /** Microseconds on the machine's monotonic clock (the clock of `clockMs`, in ms). */
  readonly startTime?: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** Measuring windows (monotonic ms) by profile file name: a profile is summarized over these alone. */
const windows = new Map<string, [number, number][]>()

export function recordWindow(profileFile: string | null, start: number, end: number): void {
  if (profileFile === null) return
  windows.set(profileFile, [...(windows.get(profileFile) ?? []), [start, end]])
}

/** V8's pseudo-frames for waiting: left out of the ranking and of the busy time. */
const IDLE = new Set(['(idle)', '(program)'])

/** Self time per function (by name and place), the `count` largest of the busy time; GC is kept, as V8 names it. */
export function summarizeProfile(name: string, profile: CpuProfile, count = 12, within: readonly [number, number][] = []): ProfileSummary {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const self = new Map<string, { name: string; where: string; us: number }>()
  let total = 0
  let at = profile.startTime ?? 0
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0
    at += us
    const ms = at / 1000
    if (within.length > 0 && !within.some(([a, b]) => ms >= a && ms < b)) return
    total += us
    const frame = byNode.get(id)
    if (frame === undefined) return
    const where = frame.url === '' ? '' : `${frame.url.replace(/^file:\/\/.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(server|shared|bench)\//, '$1/')}:${frame.lineNumber + 1}`
    const fn = frame.functionName === '' ? '(anonymous)' : frame.functionName
    const key = `${fn} ${where}`
    const entry = self.get(key) ?? { name: fn, where, us: 0 }
    entry.us += us
    self.set(key, entry)
  })
  const busy = [...self.values()].filter((e) => !IDLE.has(e.name))
  const busyUs = busy.reduce((sum, e) => sum + e.us, 0)
  const top = busy
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: busyUs > 0 ? e.us / busyUs : 0 }))
  return { name, totalMs: total / 1000, busyMs: busyUs / 1000, measuredOnly: within.length > 0, top }
}

/** Every .cpuprofile in `dir`, summarized, by file name. */
export function summarizeProfiles(dir: string): ProfileSummary[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => summarizeProfile(f.replace(/\.cpuprofile$/, ''), JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile, 12, windows.get(f)))
}
