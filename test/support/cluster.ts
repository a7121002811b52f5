import type { MurmurServer, ServerConfig } from '../../server/dist/index.js'
import { startTestServer } from './servers.js'
import { until } from './wait.js'

export const SECRET = 'test-cluster-secret'

/** Fast membership and anti-entropy for tests. */
export const FAST: Partial<ServerConfig> = { probeIntervalMs: 200, antiEntropyMs: 300, replicationTimeoutMs: 3000 }

/** Start `n` in-process nodes, each seeded with the ones before it. */
export async function startCluster(n: number, overrides: Partial<ServerConfig> = {}): Promise<MurmurServer[]> {
  const nodes: MurmurServer[] = []
  for (let i = 0; i < n; i++) {
    const peers = nodes.map((x) => x.url.replace(/^http/u, 'ws'))
    nodes.push(await startTestServer({ ...FAST, nodeId: `node-${String.fromCharCode(97 + i)}`, clusterSecret: SECRET, peers, ...overrides }))
  }
  return nodes
}

/** Resolve once every node sees every other as alive and linked. */
export async function untilMeshed(nodes: MurmurServer[], ms = 20_000): Promise<void> {
  const meshed = (): boolean =>
    nodes.every((node) => {
      const c = node.cluster
      if (c === null) return false
      const alive = c.membership.members().filter((m) => m.state === 'alive').length
      return alive === nodes.length && c.links.connectedPeers().length === nodes.length - 1
    })
  await until(meshed, (cb) => {
    const offs = nodes.map((node) => {
      const c = node.cluster
      if (c === null) return () => undefined
      c.links.on('up', cb)
      const offMembership = c.membership.on('change', cb)
      return () => {
        c.links.off('up', cb)
        offMembership()
      }
    })
    return () => offs.forEach((f) => f())
  }, ms, 'the cluster to mesh')
}
