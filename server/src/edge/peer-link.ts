import type { RawUpgrade } from '../ws/upgrades.js'
import type { NodeContext } from './node-context.js'

/**
 * `/peer`: another node's link, on `ws`. The authenticator checks the request's link token (signed with
 * the cluster secret, addressed to this node, not seen before); a refusal is a 401 and a log line with
 * the reason. A single node has no such endpoint.
 */
export function servePeerLink(upgrade: RawUpgrade, node: NodeContext): void {
  const cluster = node.cluster()
  if (cluster === null) {
    upgrade.reject(404)
    return
  }
  node.auth.authenticatePeer(upgrade.req.headers, cluster.audiences).then(
    (check) => {
      if (!check.ok) {
        const hint = check.reason === 'wrong audience' ? ` (the token is for ${check.audience ?? '?'}; this node answers to ${cluster.audiences.join(', ')}: name it by its --advertise-url in --peers)` : ''
        node.log.warn({ reason: check.reason, issuer: check.issuer, remote: upgrade.req.socket.remoteAddress }, `peer link refused: ${check.reason}${hint}`)
        upgrade.reject(401)
        return
      }
      cluster.acceptUpgrade(upgrade.req, upgrade.tcp, upgrade.head, check)
    },
    (err: unknown) => {
      node.log.warn({ err }, 'peer link refused: the token could not be checked')
      upgrade.reject(401)
    },
  )
}
