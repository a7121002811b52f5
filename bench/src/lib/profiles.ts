import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'

/**
 * The top functions by self time of each V8 .cpuprofile a `--profile` run wrote: where a server's time
 * goes, for the report next to a target not met.
 */
export interface ProfileSummary {
  readonly name: string
  readonly totalMs: number
  readonly top: readonly { readonly name: string; readonly where: string; readonly selfMs: number; readonly share: number }[]
}

interface CpuProfile {
  readonly nodes: readonly { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** Self time per function (by name and place), the `count` largest; idle and GC are kept, as V8 names them. */
export function summarizeProfile(name: string, profile: CpuProfile, count = 12): ProfileSummary {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const self = new Map<string, { name: string; where: string; us: number }>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0
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
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: total > 0 ? e.us / total : 0 }))
  return { name, totalMs: total / 1000, top }
}

/** Every .cpuprofile in `dir`, summarized, by file name. */
export function summarizeProfiles(dir: string): ProfileSummary[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => summarizeProfile(f.replace(/\.cpuprofile$/, ''), JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile))
}
