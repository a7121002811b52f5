/**
 * A package-lock.json for an app outside the repository, cut from the repository's own lock: the app's
 * registry dependencies get exactly the versions (and integrity hashes) the repository installed, so
 * `npm ci --offline` finds every tarball in npm's cache, where the repository's `npm install` put it.
 * Murmur's own packages come from tarballs made by `npm pack`.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

interface LockEntry {
  version?: string
  resolved?: string
  integrity?: string
  link?: boolean
  dev?: boolean
  devOptional?: boolean
  optional?: boolean
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  [key: string]: unknown
}

interface Lock {
  packages: Record<string, LockEntry>
}

export interface LocalTarball {
  /** Package name, e.g. @murmur/client. */
  readonly name: string
  /** Its workspace folder in the repository, e.g. client. */
  readonly workspace: string
  /** The tarball, relative to the app's folder. */
  readonly file: string
  readonly integrity: string
}

/** Where `name` resolves from a package at `from` (a lock path), as Node would look for it. */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string | null {
  let dir = from
  while (true) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`
    if (packages[candidate] !== undefined) return candidate
    if (dir === '') return null
    const cut = dir.lastIndexOf('/node_modules/')
    dir = cut === -1 ? '' : dir.slice(0, cut)
  }
}

function depsOf(entry: LockEntry): string[] {
  const optionalPeers = new Set(Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional === true).map(([n]) => n))
  return [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((n) => !optionalPeers.has(n)),
  ]
}

/**
 * The lock of an app named `appName` that depends on `registryDeps` (names; versions as the repository
 * has them at its top level) and on `tarballs`.
 */
export function offlineLock(repoRoot: string, appName: string, registryDeps: readonly string[], tarballs: readonly LocalTarball[]): { lock: object; dependencies: Record<string, string> } {
  const repo = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as Lock
  const packages: Record<string, LockEntry> = {}
  const dependencies: Record<string, string> = {}
  const ours = new Map(tarballs.map((t) => [t.name, t]))
  /** Repository lock path → the app's lock path (a workspace's nested deps move under its package). */
  const place = (repoPath: string): string => {
    for (const t of tarballs) if (repoPath.startsWith(`${t.workspace}/`)) return `node_modules/${t.name}/${repoPath.slice(t.workspace.length + 1)}`
    return repoPath
  }
  const queue: { from: string; name: string }[] = []
  for (const name of registryDeps) {
    const entry = repo.packages[`node_modules/${name}`]
    if (entry?.version === undefined) throw new Error(`${name} is not installed at the top level of the repository`)
    dependencies[name] = entry.version
    queue.push({ from: '', name })
  }
  for (const t of tarballs) {
    const ws = repo.packages[t.workspace]
    dependencies[t.name] = `file:${t.file}`
    const { name: _n, version, ...rest } = ws
    packages[`node_modules/${t.name}`] = { ...rest, version, resolved: `file:${t.file}`, integrity: t.integrity }
    for (const dep of depsOf(ws)) queue.push({ from: t.workspace, name: dep })
  }
  const seen = new Set<string>()
  while (queue.length > 0) {
    const { from, name } = queue.shift()!
    if (ours.has(name)) continue
    const at = resolveIn(repo.packages, from, name)
    if (at === null) {
      const entry = from === '' ? undefined : repo.packages[from]
      const optional = entry !== undefined && (entry.optionalDependencies?.[name] !== undefined || entry.peerDependencies?.[name] !== undefined)
      if (optional) continue
      throw new Error(`${name} (needed by ${from || 'the app'}) is not in the repository's lock`)
    }
    if (seen.has(at)) continue
    seen.add(at)
    const { dev: _d, devOptional: _o, ...entry } = repo.packages[at]
    // Optional dependencies the repository's install left out (other platforms' binaries) stay out.
    if (entry.optionalDependencies !== undefined) {
      entry.optionalDependencies = Object.fromEntries(Object.entries(entry.optionalDependencies).filter(([n]) => resolveIn(repo.packages, at, n) !== null))
    }
    packages[place(at)] = entry
    for (const dep of depsOf(entry)) queue.push({ from: at, name: dep })
  }
  const lock = {
    name: appName,
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: appName, version: '1.0.0', dependencies }, ...packages },
  }
  return { lock, dependencies }
}
