import type { ServerConfig } from '../config.js'
import { PeerOrigin } from '../cluster/replication.js'
import type { DocRegistry } from '../docs/registry.js'
import type { Logger } from '../logger.js'
import type { ServerMetrics } from '../metrics/metrics.js'
import type { Outbox } from '../storage/storage.js'
import { WebhookDeliverer } from './deliverer.js'
import { WebhookNotifier } from './notifier.js'

export interface Webhooks {
  readonly notifier: WebhookNotifier
  readonly deliverer: WebhookDeliverer
}

/**
 * Webhooks, when `--webhook-url` is set: changes become durable outbox messages (debounced per doc),
 * sent signed, at least once. Changes replicated from another node are announced by that node.
 */
export function createWebhooks(config: ServerConfig, outbox: Outbox, registry: DocRegistry, metrics: ServerMetrics, log: Logger, nodeId: () => string): Webhooks | null {
  if (config.webhookUrl === null) return null
  const deliverer = new WebhookDeliverer(
    outbox,
    {
      url: config.webhookUrl,
      secret: config.webhookSecret ?? '',
      retryMs: config.webhookRetryMs,
      retryMaxMs: Math.max(config.webhookRetryMs, config.webhookRetryMaxMs),
      timeoutMs: 10_000,
      pollMs: 1000,
      concurrency: 4,
      onResult: (result) => metrics.webhook(result),
    },
    log,
  )
  const notifier = new WebhookNotifier(
    outbox,
    { debounceMs: config.webhookDebounceMs, nodeId, ignoreOrigin: (o) => o instanceof PeerOrigin, onDue: () => deliverer.kick() },
    log,
  )
  registry.watchers.push(notifier)
  return { notifier, deliverer }
}
