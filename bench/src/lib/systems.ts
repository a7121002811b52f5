import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ServerKind, ServerLaunch } from './server-process.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, '../../..')

/** How a client talks to a server: Murmur protocol v1, y-websocket's protocol, or Hocuspocus's. */
export const Wire = { murmur: 'murmur-v1', yWebsocket: 'y-websocket', hocuspocus: 'hocuspocus' } as const
export type Wire = (typeof Wire)[keyof typeof Wire]

export const SystemId = {
  murmur: 'murmur',
  murmurYjs: 'murmur-yjs',
  yWebsocket: 'y-websocket',
  hocuspocus: 'hocuspocus',
  murmurHocuspocus: 'murmur-hocuspocus',
  murmurCluster: 'murmur-cluster',
  murmurClusterHocuspocus: 'murmur-cluster-hocuspocus',
  hocuspocusRedis: 'hocuspocus-redis',
} as const
export type SystemId = (typeof SystemId)[keyof typeof SystemId]

/** One server + client pairing under test. */
export interface System {
  readonly id: SystemId
  /** Shown in the table. */
  readonly label: string
  /** A peer (another project) rather than Murmur itself: ratios are to the best of these. */
  readonly peer: boolean
  readonly server: ServerKind
  readonly wire: Wire
  /** What a write goes to before it is acknowledged or broadcast, in one phrase. */
  readonly persistence: string
  /** True when the server stores docs at all (cold load and restart need it). */
  readonly persists: boolean
  /** True when the client learns that a write is durable. */
  readonly durableAcks: boolean
  /** Server and client package versions. */
  readonly versions: Readonly<Record<string, string>>
  launch(dataDir: string): ServerLaunch
  /** The WebSocket URL a raw client of this system opens for `docId`. */
  wireUrl(wsBase: string, docId: string): string
}

/** The installed version of a package, read from its package.json under node_modules. */
export function installedVersion(pkg: string): string {
  for (const dir of [path.join(repoRoot, 'node_modules', pkg), path.join(repoRoot, 'bench', 'node_modules', pkg)]) {
    const file = path.join(dir, 'package.json')
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  }
  return 'not installed'
}

export function murmurVersion(): string {
  return installedVersion('@murmur/server')
}

export function allSystems(): System[] {
  const yjs = installedVersion('yjs')
  return [
    {
      id: SystemId.murmur,
      label: 'Murmur (SDK, /sync)',
      peer: false,
      server: 'murmur',
      wire: Wire.murmur,
      persistence: 'SQLite, fsync (group commit); ack after fsync',
      persists: true,
      durableAcks: true,
      versions: { '@murmur/server': murmurVersion(), '@murmur/client': installedVersion('@murmur/client'), yjs },
      launch: (dataDir) => ({ kind: 'murmur', options: { args: ['--data-dir', dataDir, '--storage', 'sqlite'] } }),
      wireUrl: (base) => `${base}/sync`,
    },
    {
      id: SystemId.murmurYjs,
      label: 'Murmur (y-websocket client, /yjs)',
      peer: false,
      server: 'murmur',
      wire: Wire.yWebsocket,
      persistence: 'SQLite, fsync (group commit); protocol has no acks',
      persists: true,
      durableAcks: false,
      versions: { '@murmur/server': murmurVersion(), 'y-websocket (client)': installedVersion('y-websocket'), yjs },
      launch: (dataDir) => ({ kind: 'murmur', options: { args: ['--data-dir', dataDir, '--storage', 'sqlite'] } }),
      wireUrl: (base, docId) => `${base}/yjs/${encodeURIComponent(docId)}`,
    },
    murmurHocuspocusSystem(),
    {
      id: SystemId.yWebsocket,
      label: `y-websocket server ${installedVersion('@y/websocket-server')}`,
      peer: true,
      server: 'y-websocket',
      wire: Wire.yWebsocket,
      persistence: 'y-leveldb (YPERSISTENCE); LevelDB writes without fsync, no acks',
      persists: true,
      durableAcks: false,
      versions: {
        '@y/websocket-server': installedVersion('@y/websocket-server'),
        'y-leveldb': installedVersion('y-leveldb'),
        'y-websocket (client)': installedVersion('y-websocket'),
      },
      launch: (dataDir) => ({ kind: 'y-websocket', options: { persistenceDir: dataDir } }),
      wireUrl: (base, docId) => `${base}/${encodeURIComponent(docId)}`,
    },
    {
      id: SystemId.hocuspocus,
      label: `Hocuspocus ${installedVersion('@hocuspocus/server')}`,
      peer: true,
      server: 'hocuspocus',
      wire: Wire.hocuspocus,
      persistence: 'SQLite (extension-sqlite): the whole doc, 2 s after the last change (at most every 10 s); sync status on apply, not on store',
      persists: true,
      durableAcks: false,
      versions: {
        '@hocuspocus/server': installedVersion('@hocuspocus/server'),
        '@hocuspocus/extension-sqlite': installedVersion('@hocuspocus/extension-sqlite'),
        '@hocuspocus/provider': installedVersion('@hocuspocus/provider'),
      },
      launch: (dataDir) => ({ kind: 'hocuspocus', options: { dataDir } }),
      wireUrl: (base) => base,
    },
  ]
}

/** Murmur serving unmodified Hocuspocus providers on `/hocuspocus`: the same clients as the Hocuspocus row. */
export function murmurHocuspocusSystem(): System {
  return {
    id: SystemId.murmurHocuspocus,
    label: 'Murmur (Hocuspocus provider, /hocuspocus)',
    peer: false,
    server: 'murmur',
    wire: Wire.hocuspocus,
    persistence: 'SQLite, fsync (group commit); sync status after fsync',
    persists: true,
    durableAcks: true,
    versions: { '@murmur/server': murmurVersion(), '@hocuspocus/provider': installedVersion('@hocuspocus/provider'), yjs: installedVersion('yjs') },
    launch: (dataDir) => ({ kind: 'murmur', options: { args: ['--data-dir', dataDir, '--storage', 'sqlite'] } }),
    wireUrl: (base) => `${base}/hocuspocus`,
  }
}

/** Redis for Hocuspocus's multi-server setup: the machine's own, as the bench runs it. */
export const REDIS = { host: '127.0.0.1', port: 6379 } as const

/**
 * Hocuspocus's multi-server setup: nodes behind `@hocuspocus/extension-redis` on the machine's Redis, each
 * with its own SQLite file. Not in `allSystems`: the fanout scenario runs it beside Murmur's cluster.
 */
export function hocuspocusRedisSystem(nodes: number): System {
  const hocuspocus = allSystems().find((s) => s.id === SystemId.hocuspocus) as System
  return {
    ...hocuspocus,
    id: SystemId.hocuspocusRedis,
    label: `Hocuspocus ${installedVersion('@hocuspocus/server')}, ${nodes} nodes + Redis`,
    persistence: `${hocuspocus.persistence}; nodes relay through Redis ${REDIS.host}:${REDIS.port} (extension-redis), each with its own SQLite file`,
    versions: { ...hocuspocus.versions, '@hocuspocus/extension-redis': installedVersion('@hocuspocus/extension-redis') },
  }
}

/** Every system a generator process may be asked to run clients of, by id. */
export function systemById(id: string): System {
  const all = [...allSystems(), hocuspocusRedisSystem(3)]
  const found = all.find((s) => s.id === id)
  if (found !== undefined) return found
  if (id === SystemId.murmurCluster) return all.find((s) => s.id === SystemId.murmur) as System
  if (id === SystemId.murmurClusterHocuspocus) return murmurHocuspocusSystem()
  throw new Error(`unknown system ${id}`)
}
