import type { RawUpgrade } from '../ws/upgrades.js'
import type { NodeContext } from './node-context.js'

/**
 * `/peer`: another node's link, on `ws`. The authenticator checks the request's signature (the cluster
 * secret); a single node has no such endpoint.
 */
export function servePeerLink(upgrade: RawUpgrade, node: NodeContext): void {
  const cluster = node.cluster()
  if (cluster === null) {
    upgrade.reject(404)
    return
  }
  const peer = node.auth.authenticatePeer(upgrade.req.headers)
  if (peer === null) {
    upgrade.reject(401)
    return
  }
  cluster.acceptUpgrade(upgrade.req, upgrade.tcp, upgrade.head, peer)
}
