import { describe, expect, it } from 'vitest'
import { detectionBoundMs } from '../../server/dist/cluster/membership.js'
import type { MurmurServer } from '../../server/dist/index.js'
import { FAST, SECRET, startCluster, untilMeshed } from '../support/cluster.js'
import { spawnNode, tempDir } from '../support/servers.js'
import { freePort } from '../support/ports.js'
import { until } from '../support/wait.js'

function stateOf(node: MurmurServer, id: string): string | undefined {
  return node.cluster?.membership.members().find((m) => m.id === id)?.state
}

function untilState(nodes: MurmurServer[], id: string, state: string, ms: number): Promise<void> {
  return until(
    () => nodes.every((n) => stateOf(n, id) === state),
    (cb) => {
      const offs = nodes.map((n) => n.cluster!.membership.on('change', cb))
      return () => offs.forEach((f) => f())
    },
    ms,
    `${id} ${state} on every node`,
  )
}

describe('failure detection with real processes', () => {
  it('a killed node is marked dead within the Lifeguard bound, and rejoins when restarted', async () => {
    const observers = await startCluster(2)
    const port = await freePort()
    const dataDir = tempDir()
    const args = [
      '--port', String(port), '--data-dir', dataDir, '--node-id', 'victim', '--cluster-secret', SECRET,
      '--peers', observers.map((o) => o.url.replace(/^http/u, 'ws')).join(','),
      '--probe-interval-ms', String(FAST.probeIntervalMs), '--anti-entropy-ms', String(FAST.antiEntropyMs),
    ]
    await untilMeshed(observers)
    const victim = await spawnNode(args)
    await untilState(observers, 'victim', 'alive', 20_000)

    const bound = detectionBoundMs(observers[0].cluster!.membershipOptions, 3)
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    // The bound is the contract under test; a little more is allowed for the 20 ms timer tick.
    await untilState(observers, 'victim', 'dead', bound + 1000)
    const took = Date.now() - killedAt
    expect(took).toBeLessThanOrEqual(bound + 100)
    // Down is not removed: it is still listed, and still owns its partitions.
    expect(observers[0].cluster!.placement.size).toBe(3)

    await spawnNode(args)
    await untilState(observers, 'victim', 'alive', 20_000)
  })

  it('a node stopped cleanly is not decommissioned: it comes back alive and keeps its partitions', async () => {
    const observers = await startCluster(2)
    const port = await freePort()
    const dataDir = tempDir()
    const args = [
      '--port', String(port), '--data-dir', dataDir, '--node-id', 'restarted', '--cluster-secret', SECRET,
      '--peers', observers.map((o) => o.url.replace(/^http/u, 'ws')).join(','),
      '--probe-interval-ms', String(FAST.probeIntervalMs), '--anti-entropy-ms', String(FAST.antiEntropyMs),
    ]
    const node = await spawnNode(args)
    await untilState(observers, 'restarted', 'alive', 20_000)
    await node.kill('SIGTERM')
    await untilState(observers, 'restarted', 'dead', 30_000)
    await spawnNode(args)
    await untilState(observers, 'restarted', 'alive', 20_000)
    expect(observers[0].cluster!.placement.size).toBe(3)
  })

  it('an operator decommission is final and moves ownership', async () => {
    const nodes = await startCluster(3)
    await untilMeshed(nodes)
    const target = nodes[2].cluster!.self
    const denied = await fetch(`${nodes[0].url}/v1/cluster/members/${target}/decommission`, { method: 'POST' })
    expect(denied.status).toBe(401)
    const res = await fetch(`${nodes[0].url}/v1/cluster/members/${target}/decommission`, {
      method: 'POST',
      headers: { 'x-murmur-cluster-secret': SECRET },
    })
    expect(res.status).toBe(200)
    await untilState(nodes.slice(0, 2), target, 'left', 10_000)
    expect(nodes[0].cluster!.placement.size).toBe(2)
  })
})
