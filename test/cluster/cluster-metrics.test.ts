import { describe, expect, it } from 'vitest'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'

/** The value of a metric line in Prometheus text, or null. */
function value(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? null : Number(line.slice(series.length + 1))
}

describe('cluster metrics', () => {
  it('/metrics shows members by state, pushes and anti-entropy rounds from the cluster’s counters', async () => {
    const nodes = await startCluster(2)
    await untilMeshed(nodes)
    const h = sdkClient(nodes[0].url).yjs('counted')
    await untilSynced(h)
    h.doc.getText('t').insert(0, 'pushed to the other node')
    await untilSaved(h)
    nodes[0].cluster?.antiEntropyRound()
    const text = (await nodes[0].http.inject({ url: '/metrics' })).body
    expect(value(text, 'murmur_cluster_members{state="alive"}')).toBe(2)
    expect(value(text, 'murmur_cluster_pushes_total')).toBeGreaterThan(0)
    expect(value(text, 'murmur_cluster_antientropy_rounds_total')).toBeGreaterThan(0)
    expect(value(text, 'murmur_cluster_pushes_dropped_total')).toBe(0)
    expect(value(text, 'murmur_cluster_suspicions_total')).not.toBeNull()
    expect(value(text, 'murmur_cluster_docs_repaired_total')).not.toBeNull()
    expect(value(text, 'murmur_cluster_docs_repaired_last_round')).not.toBeNull()
    // Counters only grow from scrape to scrape, following the cluster's own totals.
    const again = (await nodes[0].http.inject({ url: '/metrics' })).body
    expect(value(again, 'murmur_cluster_pushes_total')).toBeGreaterThanOrEqual(value(text, 'murmur_cluster_pushes_total') ?? 0)
    // The other node sees the same membership.
    expect(value((await nodes[1].http.inject({ url: '/metrics' })).body, 'murmur_cluster_members{state="alive"}')).toBe(2)
  })
})
