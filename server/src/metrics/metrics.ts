import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The client-facing WebSocket endpoints, as metric labels. */
export const Endpoint = { sync: 'sync', yjs: 'yjs', automerge: 'automerge', hocuspocus: 'hocuspocus' } as const
export type Endpoint = (typeof Endpoint)[keyof typeof Endpoint]

/** Socket closes that are a limit's doing, by the flag that sets the limit (`murmur_limit_hits_total`). */
export const LIMIT_OF_ERROR: Readonly<Record<string, string>> = {
  MUR_ERR_FRAME_TOO_LARGE: 'max-frame-bytes',
  MUR_ERR_SLOW_CONSUMER: 'max-buffered-bytes',
}

/** What the metrics read from the node when scraped. */
export interface MetricSources {
  docsLoaded(): number
  /** Loaded docs kept encoded (see `--hibernate-after-ms`). */
  docsHibernating(): number
  connections(): Readonly<Record<string, number>>
  /** `Cluster.describe()` of the node, or null on a single node. */
  cluster(): unknown
  /** Webhook messages waiting in the outbox, or null without webhooks. */
  outboxPending(): Promise<number | null>
}

/** Reads a number at `path` from a loosely typed object (the cluster's `describe()`), or null. */
function numberAt(value: unknown, ...path: string[]): number | null {
  let at: unknown = value
  for (const p of path) {
    if (typeof at !== 'object' || at === null) return null
    at = (at as Record<string, unknown>)[p]
  }
  return typeof at === 'number' && Number.isFinite(at) ? at : null
}

/**
 * A counter that follows a cumulative count kept elsewhere (the cluster's stats): each scrape adds what
 * grew since the last one. A count that went down (a restart of the thing counting) starts over.
 */
function followCounter(counter: Counter, read: () => number | null): () => void {
  let last = 0
  return () => {
    const now = read()
    if (now === null) return
    if (now >= last) counter.inc(now - last)
    last = now
  }
}

/**
 * The node's Prometheus metrics (`GET /metrics`), in a registry of its own so that several nodes in
 * one process (tests) do not share counters.
 */
export class ServerMetrics {
  readonly registry = new Registry()
  private readonly bytesIn: Counter<'endpoint'>
  private readonly bytesOut: Counter<'endpoint'>
  private readonly opened: Counter<'endpoint'>
  private readonly updates: Counter<'engine'>
  private readonly ack: Histogram
  private readonly commit: Histogram
  private readonly committed: Counter
  private readonly errors: Counter<'code'>
  private readonly webhooks: Counter<'result'>
  private readonly limits: Counter<'limit'>
  private readonly backups: Counter<'result'>
  private readonly backupLastSuccess: Gauge
  private readonly backupLastBytes: Gauge
  private readonly backupLastSeconds: Gauge
  private readonly childCache = new Map<Counter<string>, Map<string, { inc(n?: number): void }>>()

  constructor(sources: MetricSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'murmur_' })
    new Gauge({
      name: 'murmur_connections',
      help: 'Client WebSockets open now, by endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset()
        for (const [endpoint, n] of Object.entries(sources.connections())) this.set({ endpoint }, n)
      },
    })
    this.opened = new Counter({ name: 'murmur_connections_opened_total', help: 'Client WebSockets accepted, by endpoint', labelNames: ['endpoint'], registers })
    new Gauge({
      name: 'murmur_docs_loaded',
      help: 'Docs loaded in memory',
      registers,
      collect() {
        this.set(sources.docsLoaded())
      },
    })
    new Gauge({
      name: 'murmur_docs_hibernating',
      help: 'Loaded docs kept encoded because nobody writes to them (--hibernate-after-ms)',
      registers,
      collect() {
        this.set(sources.docsHibernating())
      },
    })
    this.updates = new Counter({ name: 'murmur_doc_updates_total', help: 'Changes applied to loaded docs (from clients, HTTP and peers)', labelNames: ['engine'], registers })
    this.bytesIn = new Counter({ name: 'murmur_bytes_received_total', help: 'WebSocket payload bytes received, by endpoint', labelNames: ['endpoint'], registers })
    this.bytesOut = new Counter({ name: 'murmur_bytes_sent_total', help: 'WebSocket payload bytes sent, by endpoint', labelNames: ['endpoint'], registers })
    this.ack = new Histogram({
      name: 'murmur_ack_latency_seconds',
      help: 'From an update arriving on /sync to its ack (durable, and replicated when asked)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.commit = new Histogram({
      name: 'murmur_storage_commit_seconds',
      help: 'Duration of one group commit (one transaction and fsync)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    })
    this.committed = new Counter({ name: 'murmur_storage_appends_committed_total', help: 'Appends made durable by group commits', registers })
    this.errors = new Counter({
      name: 'murmur_errors_total',
      help: 'Errors reported to clients (sockets closed, messages and requests refused: limits, auth, bad input), by error code',
      labelNames: ['code'],
      registers,
    })
    this.limits = new Counter({
      name: 'murmur_limit_hits_total',
      help: 'Inputs refused or cut off by a limit, by the flag that sets the limit',
      labelNames: ['limit'],
      registers,
    })
    this.webhooks = new Counter({ name: 'murmur_webhook_deliveries_total', help: 'Webhook delivery attempts, by result', labelNames: ['result'], registers })
    this.backups = new Counter({ name: 'murmur_backups_total', help: 'Scheduled backups, by result (ok, failed)', labelNames: ['result'], registers })
    this.backupLastSuccess = new Gauge({ name: 'murmur_backup_last_success_timestamp_seconds', help: 'When the latest scheduled backup that succeeded was taken', registers })
    this.backupLastBytes = new Gauge({ name: 'murmur_backup_last_bytes', help: 'Size of the latest successful scheduled backup (compressed)', registers })
    this.backupLastSeconds = new Gauge({ name: 'murmur_backup_last_duration_seconds', help: 'How long the latest successful scheduled backup took', registers })
    new Gauge({
      name: 'murmur_webhook_outbox_pending',
      help: 'Webhook messages waiting in the durable outbox',
      registers,
      async collect() {
        const n = await sources.outboxPending()
        if (n !== null) this.set(n)
      },
    })

    // Cluster counters live in the cluster's own stats; these follow them at each scrape.
    const cluster = (...path: string[]) => () => numberAt(sources.cluster(), ...path)
    const follow = (name: string, help: string, read: () => number | null): void => {
      let sync: () => void = () => undefined
      const counter: Counter = new Counter({
        name,
        help,
        registers,
        collect() {
          sync()
        },
      })
      sync = followCounter(counter, read)
    }
    follow('murmur_cluster_antientropy_rounds_total', 'Anti-entropy rounds this node started', cluster('antiEntropy', 'rounds'))
    follow('murmur_cluster_docs_repaired_total', 'Docs anti-entropy found different and repaired', cluster('antiEntropy', 'docsRepaired'))
    follow('murmur_cluster_suspicions_total', 'Members this node started to suspect (SWIM)', cluster('membership', 'suspicions'))
    follow('murmur_cluster_pushes_total', 'Updates pushed to other nodes', cluster('replication', 'pushes'))
    follow('murmur_cluster_pushes_dropped_total', 'Pushes dropped on a full link (left to anti-entropy)', cluster('replication', 'pushesDropped'))
    follow('murmur_sync_chunks_sent_total', 'Pieces of peer messages too large for one frame (first syncs of long histories)', cluster('chunks', 'chunks'))
    follow('murmur_sync_chunk_bytes_sent_total', 'Bytes of those pieces', cluster('chunks', 'bytes'))
    follow('murmur_sync_chunked_messages_total', 'Peer messages sent in pieces', cluster('chunks', 'messages'))
    new Gauge({
      name: 'murmur_sync_chunked_in_progress',
      help: 'Peer messages crossing a link in pieces now (sent or being received)',
      registers,
      collect() {
        const n = numberAt(sources.cluster(), 'chunks', 'inProgress')
        if (n !== null) this.set(n)
      },
    })
    new Gauge({
      name: 'murmur_cluster_docs_repaired_last_round',
      help: 'Docs repaired in the latest anti-entropy round (about 0 in steady state)',
      registers,
      collect() {
        const n = numberAt(sources.cluster(), 'antiEntropy', 'lastRoundRepaired')
        if (n !== null) this.set(n)
      },
    })
    new Gauge({
      name: 'murmur_cluster_hints_pending',
      help: 'Hinted-handoff entries waiting for a replica to come back',
      registers,
      collect() {
        const n = numberAt(sources.cluster(), 'replication', 'hintsPending')
        if (n !== null) this.set(n)
      },
    })
    new Gauge({
      name: 'murmur_cluster_members',
      help: 'Cluster members by state, as this node sees them',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset()
        const members = (sources.cluster() as { members?: unknown } | null)?.members
        if (!Array.isArray(members)) return
        const counts: Record<string, number> = {}
        for (const m of members as { state?: unknown }[]) {
          const state = typeof m.state === 'string' ? m.state : 'unknown'
          counts[state] = (counts[state] ?? 0) + 1
        }
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
      },
    })
  }

  private child(counter: Counter<string>, label: string, value: string): { inc(n?: number): void } {
    // labels() hashes its argument on every call; sockets count every frame, so children are cached.
    let children = this.childCache.get(counter)
    if (children === undefined) this.childCache.set(counter, (children = new Map()))
    let c = children.get(value)
    if (c === undefined) {
      c = counter.labels({ [label]: value })
      children.set(value, c)
    }
    return c
  }

  connectionOpened(endpoint: string): void {
    this.child(this.opened, 'endpoint', endpoint).inc()
  }

  received(endpoint: string, bytes: number): void {
    this.child(this.bytesIn, 'endpoint', endpoint).inc(bytes)
  }

  sent(endpoint: string, bytes: number): void {
    this.child(this.bytesOut, 'endpoint', endpoint).inc(bytes)
  }

  docChanged(engine: string): void {
    this.child(this.updates, 'engine', engine).inc()
  }

  acked(seconds: number): void {
    this.ack.observe(seconds)
  }

  storageCommitted(seconds: number, entries: number): void {
    this.commit.observe(seconds)
    this.committed.inc(entries)
  }

  error(code: string): void {
    this.child(this.errors, 'code', code).inc()
  }

  /** A limit was hit; `limit` is the flag that sets it (`max-awareness-ids-per-socket`, `upgrade-timeout-ms`, ...). */
  limitHit(limit: string): void {
    this.child(this.limits, 'limit', limit).inc()
  }

  webhook(result: 'delivered' | 'failed'): void {
    this.child(this.webhooks, 'result', result).inc()
  }

  /** A scheduled backup ended: its result, and for a success when it was taken, its size and duration. */
  backup(result: 'ok' | 'failed', done?: { takenAt: number; bytes: number; seconds: number }): void {
    this.child(this.backups, 'result', result).inc()
    if (!done) return
    this.backupLastSuccess.set(done.takenAt / 1000)
    this.backupLastBytes.set(done.bytes)
    this.backupLastSeconds.set(done.seconds)
  }

  get contentType(): string {
    return this.registry.contentType
  }

  render(): Promise<string> {
    return this.registry.metrics()
  }
}
