import { SETTINGS } from '@murmur/server'

/**
 * Whether this build of Murmur can form a cluster (`murmur serve --peers …`). Read from the server's
 * own settings table, so the bench picks the cluster up the day it lands, with no change here.
 */
export function clusterSupport(): { available: boolean; reason: string } {
  const flags = new Set(SETTINGS.map((s) => s.flag))
  if (flags.has('peers')) return { available: true, reason: '' }
  return { available: false, reason: 'cluster: not available yet (this build has no `murmur serve --peers`)' }
}

/** The flags of this build's cluster settings (for node launch), e.g. peers, cluster-secret. */
export function clusterFlags(): Set<string> {
  return new Set(SETTINGS.map((s) => s.flag))
}
