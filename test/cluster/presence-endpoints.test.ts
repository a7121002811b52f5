import { describe, expect, it } from 'vitest'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { PROVIDERS, hocuspocusUrl, untilProviderSynced } from '../support/hocuspocus.js'
import { PresenceClient, state } from '../support/presence.js'
import { until } from '../support/wait.js'
import { yProvider, whenProviderSynced } from '../support/ywebsocket.js'

/**
 * Presence across nodes on every Yjs endpoint, with in-process nodes: a Hocuspocus provider on one node
 * and a y-websocket client on another see each other, and the per-doc cap holds for the doc across nodes.
 */
describe('presence across nodes, every endpoint', () => {
  it('a Hocuspocus provider on node A and a y-websocket client on node C see each other', async () => {
    const nodes = await startCluster(3)
    await untilMeshed(nodes)
    const [a, , c] = nodes
    const hp = PROVIDERS[0].provider(hocuspocusUrl(a.url), 'hp-room')
    const yws = yProvider(c.url, 'hp-room')
    await Promise.all([untilProviderSynced(hp), whenProviderSynced(yws)])
    hp.awareness?.setLocalStateField('user', 'ada')
    yws.awareness.setLocalStateField('user', 'cy')
    const hpSees = (): boolean => [...(hp.awareness?.getStates().values() ?? [])].some((s) => s.user === 'cy')
    const ywsSees = (): boolean => [...yws.awareness.getStates().values()].some((s) => (s as { user?: string }).user === 'ada')
    await until(() => hpSees() && ywsSees(), (cb) => {
      hp.awareness?.on('change', cb)
      yws.awareness.on('change', cb)
      return () => {
        hp.awareness?.off('change', cb)
        yws.awareness.off('change', cb)
      }
    }, 15_000, 'each to see the other')
  })

  it('the per-doc presence cap counts the states of every node: a joiner anywhere sees at most that many', async () => {
    const nodes = await startCluster(3, { maxAwarenessIdsPerDoc: 3 })
    await untilMeshed(nodes)
    const [a, b, c] = nodes
    const onA = await PresenceClient.open(a.url, 'yjs', 'capped')
    const onC = await PresenceClient.open(c.url, 'yjs', 'capped')
    const watcher = await PresenceClient.open(b.url, 'yjs', 'capped')
    onA.send([{ clientId: 1, clock: 1, state: state('a1') }, { clientId: 2, clock: 1, state: state('a2') }])
    await watcher.until(() => watcher.states.size === 2, "A's two states on B")
    onC.send([{ clientId: 3, clock: 1, state: state('c1') }, { clientId: 4, clock: 1, state: state('c2') }])
    await watcher.until(() => watcher.states.size === 3, 'a third state on B')
    // Whatever came last is dropped on the node where the cap is reached; no node holds more than 3.
    const late = await PresenceClient.open(b.url, 'yjs', 'capped')
    await late.until(() => late.states.size === 3, 'a joiner on B to get the doc\'s states')
    for (const node of nodes) expect(node.registry.peek({ engine: 'yjs', docId: 'capped' as never })?.awareness.size ?? 0).toBeLessThanOrEqual(3)
  })
})
