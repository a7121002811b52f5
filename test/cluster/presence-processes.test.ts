import { describe, expect, it } from 'vitest'
import { Repo, type DocHandle } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import type { Awareness } from 'y-protocols/awareness'
import { FAST, SECRET } from '../support/cluster.js'
import { freePort } from '../support/ports.js'
import { sdkClient, untilSynced } from '../support/sdk.js'
import { spawnNode, tempDir, wsUrl, type NodeProcess } from '../support/servers.js'
import { eventually, until, within } from '../support/wait.js'
import { yProvider, whenProviderSynced } from '../support/ywebsocket.js'

/**
 * Presence across nodes with real processes: a client on node A and one on node C of a three-node
 * cluster see each other's presence (y-websocket, the SDK for both engines, automerge-repo ephemeral
 * messages), and when A is killed with -9, C's client sees A's user leave. The wait for the leave is
 * shorter than the 30 s after which a y-protocols client drops a silent state by itself, so only the
 * node can have told it.
 */

interface ClusterView {
  members: { id: string; state: string; connected: boolean }[]
}

async function spawnCluster(): Promise<NodeProcess[]> {
  const ports = [await freePort(), await freePort(), await freePort()]
  const urls = ports.map((p) => `ws://127.0.0.1:${p}`)
  const nodes: NodeProcess[] = []
  // One after another: three processes starting at once on a loaded machine may miss their deadline.
  for (const [i, id] of ['node-a', 'node-b', 'node-c'].entries()) {
    nodes.push(await spawnNode([
      '--port', String(ports[i]), '--data-dir', tempDir(), '--node-id', id, '--cluster-secret', SECRET,
      '--peers', urls.filter((_, j) => j !== i).join(','),
      '--probe-interval-ms', String(FAST.probeIntervalMs), '--anti-entropy-ms', String(FAST.antiEntropyMs),
    ]))
  }
  await eventually(async () => {
    const views = await Promise.all(nodes.map(async (n) => (await (await fetch(`${n.url}/v1/cluster`)).json()) as ClusterView))
    return views.every((v) => v.members.length === 3 && v.members.every((m) => m.state === 'alive' && m.connected))
  }, 30_000, 'three processes to mesh')
  return nodes
}

const userOf = (s: unknown): unknown => (s as { user?: unknown } | null)?.user

function sees(awareness: Awareness, user: string): boolean {
  return [...awareness.getStates().values()].some((s) => userOf(s) === user)
}

function untilSees(awareness: Awareness, user: string, present: boolean, ms = 15_000): Promise<void> {
  return until(() => sees(awareness, user) === present, (cb) => {
    awareness.on('change', cb)
    return () => awareness.off('change', cb)
  }, ms, `${user} ${present ? 'to appear' : 'to leave'}`)
}

describe('presence across nodes (real processes)', () => {
  it('clients on A and C see each other (y-websocket, SDK Yjs and Automerge, automerge-repo ephemeral); kill -9 A and C sees A\'s users leave', { timeout: 180_000 }, async () => {
    const [a, , c] = await spawnCluster()
    const yws = [yProvider(a.url, 'presence-yws'), yProvider(c.url, 'presence-yws')]
    const yjs = [sdkClient(a.url).yjs('presence-sdk'), sdkClient(c.url).yjs('presence-sdk')]
    const am = [sdkClient(a.url).automerge<{ n?: number }>('presence-sdk-am'), sdkClient(c.url).automerge<{ n?: number }>('presence-sdk-am')]
    await Promise.all([...yws.map((p) => whenProviderSynced(p)), ...[...yjs, ...am].map((h) => untilSynced(h))])
    const pairs = [yws.map((p) => p.awareness), yjs.map((h) => h.awareness), am.map((h) => h.awareness)]
    for (const [onA, onC] of pairs) {
      onA.setLocalState({ user: 'ada' })
      onC.setLocalState({ user: 'cy' })
    }
    await Promise.all(pairs.flatMap(([onA, onC]) => [untilSees(onC, 'ada', true), untilSees(onA, 'cy', true)]))

    await ephemeralReachesC(a, c)

    // A fresh state just before the kill: C's clients would drop it by themselves only 30 s later.
    for (const [onA] of pairs) onA.setLocalState({ user: 'ada', round: 2 })
    await Promise.all(pairs.map(([, onC]) => until(() => [...onC.getStates().values()].some((s) => (s as { round?: number }).round === 2), (cb) => {
      onC.on('change', cb)
      return () => onC.off('change', cb)
    }, 15_000, 'the fresh state on C')))
    await a.kill('SIGKILL')
    await Promise.all(pairs.map(([, onC]) => untilSees(onC, 'ada', false)))
    for (const [, onC] of pairs) expect(sees(onC, 'cy')).toBe(true)
  })
})

/** An automerge-repo Repo on A broadcasts; a Repo on C that found the doc hears it. */
async function ephemeralReachesC(a: NodeProcess, c: NodeProcess): Promise<void> {
  const repoA = new Repo({ network: [new WebSocketClientAdapter(wsUrl(a.url, '/automerge'), 200)] })
  const repoC = new Repo({ network: [new WebSocketClientAdapter(wsUrl(c.url, '/automerge'), 200)] })
  try {
    const handle = repoA.create<{ title?: string }>({ title: 'shared' })
    // C finds the doc once the cluster holds it (A's write reaches its replicas).
    let found: DocHandle<{ title?: string }> | null = null
    await eventually(async () => {
      try {
        found = await within(repoC.find<{ title?: string }>(handle.url), 2000, 'find')
        return found.doc().title === 'shared'
      } catch {
        return false
      }
    }, 30_000, 'C to find the doc')
    const onC = found as unknown as DocHandle<{ title?: string }>
    const heard: unknown[] = []
    onC.on('ephemeral-message', (p: { message: unknown }) => heard.push(p.message))
    // Broadcast until heard: C's watch of the doc reaches A a moment after C opened it.
    await eventually(async () => {
      handle.broadcast({ cursor: 7 })
      return heard.length > 0
    }, 15_000, 'the ephemeral message on C')
    expect(heard[0]).toEqual({ cursor: 7 })
  } finally {
    await repoA.shutdown()
    await repoC.shutdown()
  }
}
