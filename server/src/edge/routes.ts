import { registerAdminRoutes } from '../http/admin.js'
import { registerClusterRoutes } from '../http/cluster-routes.js'
import { registerDocRoutes } from '../http/docs.js'
import { registerHealthRoutes } from '../http/health.js'
import { registerRevocationRoutes } from '../http/revocations.js'
import { registerStaticFiles } from '../http/static.js'
import { registerVersionRoutes } from '../http/versions.js'
import { Endpoint } from '../metrics/metrics.js'
import { serveAutomergeRepo } from '../sync/automerge-repo.js'
import { serveSync } from '../sync/murmur-sync.js'
import { serveYWebsocket } from '../sync/y-websocket.js'
import { isHocuspocusPath, serveHocuspocus } from '../sync/hocuspocus.js'
import { defaultConfig } from '../config.js'
import type { UpgradeRoute } from '../ws/upgrades.js'
import type { HttpRoutes } from './http.js'
import type { NodeContext } from './node-context.js'
import { servePeerLink } from './peer-link.js'

/**
 * The node's edge: every HTTP route and WebSocket upgrade path, each with its protocol handler. Adding
 * an endpoint is a handler and a row here. Every handler asks the node's one `Authenticator` who may
 * do what.
 */

/** HTTP routes, registered in this order (see `edge/http.ts`). */
export const httpRoutes: readonly HttpRoutes<NodeContext>[] = [
  {
    paths: 'GET /healthz, GET /readyz',
    beforeRateLimit: true,
    register: (http, node) => registerHealthRoutes(http, { isReady: () => node.ready(), storageFailure: () => node.storageFailure(), registry: node.registry }),
  },
  {
    paths: 'GET /metrics',
    beforeRateLimit: true,
    register: (http, node) => {
      http.get('/metrics', async (_req, reply) => reply.type(node.metrics.contentType).send(await node.metrics.render()))
    },
  },
  {
    paths: '/v1/docs…',
    register: (http, node) =>
      registerDocRoutes(http, {
        registry: node.registry,
        storage: node.storage,
        auth: node.auth,
        announceDelete: (key, deletedAt) => node.cluster()?.replication.announceDelete(key, deletedAt),
        onDeleted: (key, deletedAt) => void node.webhooks?.deleted(key, deletedAt).catch((err: unknown) => node.log.error({ err }, 'could not queue a doc.deleted webhook')),
      }),
  },
  {
    paths: '/v1/docs/…/versions…',
    register: (http, node) => registerVersionRoutes(http, { versions: node.versions, storage: node.storage, auth: node.auth }),
  },
  {
    paths: 'GET /v1/admin…',
    register: (http, node) =>
      registerAdminRoutes(http, {
        registry: node.registry,
        storage: node.storage,
        webhooks: node.webhooks !== null,
        nodeId: () => node.sync.nodeId,
        selfUrl: () => node.selfUrl(),
        ready: () => node.ready(),
        storageFailure: () => node.storageFailure(),
        cluster: () => node.cluster(),
      }),
  },
  {
    paths: '/v1/admin/revocations',
    register: (http, node) => registerRevocationRoutes(http, node.revocations),
  },
  {
    paths: 'GET /*',
    register: (http, node) => registerStaticFiles(http, node.config.staticDir),
  },
  {
    // Single nodes answer too, so tools need not know whether they talk to a cluster.
    paths: '/v1/cluster…',
    register: (http, node) =>
      registerClusterRoutes(http, {
        cluster: () => node.cluster(),
        single: () => {
          const self = node.selfUrl()
          return { self: node.sync.nodeId, members: [{ id: node.sync.nodeId, url: self, httpUrl: self.replace(/^ws/u, 'http'), state: 'alive', incarnation: 0, rttMs: null, connected: true }] }
        },
        clusterSecret: node.config.clusterSecret,
        clusterSecretPrevious: node.config.clusterSecretPrevious,
      }),
  },
]

/** WebSocket upgrade paths (see `ws/upgrades.ts`); anything else gets 404. */
export function upgradeRoutesOf(hocuspocusPath: string): readonly UpgradeRoute<NodeContext>[] {
  return [
    { path: '/sync', endpoint: Endpoint.sync, matches: (p) => p === '/sync', serve: (up, node) => serveSync(up, node.sync) },
    { path: '/yjs/<docId>', endpoint: Endpoint.yjs, matches: (p) => p.startsWith('/yjs/'), serve: (up, node) => serveYWebsocket(up, node.sync) },
    { path: '/automerge', endpoint: Endpoint.automerge, matches: (p) => p === '/automerge' || p === '/automerge/', serve: (up, node) => serveAutomergeRepo(up, node.sync) },
    { path: '/peer', endpoint: null, matches: (p) => p === '/peer', serve: servePeerLink },
    { path: '/hocuspocus', endpoint: Endpoint.hocuspocus, matches: (p) => isHocuspocusPath(hocuspocusPath, p), serve: (up, node) => serveHocuspocus(up, node.sync) },
  ]
}

/** The rows with the default settings (`--hocuspocus-path` moves the Hocuspocus row). */
export const upgradeRoutes: readonly UpgradeRoute<NodeContext>[] = upgradeRoutesOf(defaultConfig().hocuspocusPath)
