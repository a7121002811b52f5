import http from 'node:http'
import { describe, expect, it, onTestFinished } from 'vitest'
import * as Y from 'yjs'
import { asDocId } from '@murmur/shared'
import { WebhookHeader, retryDelay, startServer, verifyWebhook, type MurmurServer, type WebhookEvent } from '../../server/dist/index.js'
import { freePort } from '../support/ports.js'
import { startTestServer, tempDir } from '../support/servers.js'
import { eventually, until } from '../support/wait.js'

const SECRET = 'webhook-secret'

interface Delivery {
  readonly id: string
  readonly attempt: number
  readonly signed: boolean
  readonly event: WebhookEvent
  readonly body: string
}

/**
 * A webhook receiver on `port`: not listening until `up()` (connections are refused), then answering
 * 500 to the first `failFirst` requests, then 200. Records every request that got a 200.
 */
function receiver(port: number, failFirst = 0) {
  const delivered: Delivery[] = []
  let failures = failFirst
  const listeners = new Set<() => void>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      if (failures > 0) {
        failures--
        res.writeHead(500).end()
        return
      }
      const header = (name: string): string | undefined => req.headers[name] as string | undefined
      delivered.push({
        id: header(WebhookHeader.idempotencyKey) ?? '',
        attempt: Number(header(WebhookHeader.attempt)),
        signed: verifyWebhook(SECRET, { timestamp: header(WebhookHeader.timestamp), signature: header(WebhookHeader.signature) }, body),
        event: JSON.parse(body) as WebhookEvent,
        body,
      })
      res.writeHead(204).end()
      for (const l of listeners) l()
    })
  })
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return {
    delivered,
    up: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve())),
    onDelivery: (cb: () => void) => {
      listeners.add(cb)
      return () => listeners.delete(cb)
    },
  }
}

/** Apply `count` text inserts to a Yjs doc on the node, each its own change. */
async function edit(server: MurmurServer, docId: string, count: number, tag: string): Promise<void> {
  const live = await server.registry.get({ engine: 'yjs', docId: asDocId(docId) })
  const d = new Y.Doc()
  Y.applyUpdate(d, live.doc.encodeSnapshot())
  for (let i = 0; i < count; i++) {
    const update = await new Promise<Uint8Array>((resolve) => {
      d.once('update', (u: Uint8Array) => resolve(u))
      d.getText('t').insert(0, `${tag}${i} `)
    })
    await live.apply(update, { from: null })
  }
}

async function failedAttempts(server: MurmurServer): Promise<number> {
  const metric = await server.metrics.registry.getSingleMetric('murmur_webhook_deliveries_total')?.get()
  return metric?.values.find((v) => v.labels.result === 'failed')?.value ?? 0
}

/** Every doc's changes are covered by delivered events, the last of which carries the doc's final version. */
async function expectEveryChangeDelivered(server: MurmurServer, delivered: Delivery[], changes: Map<string, number>): Promise<void> {
  for (const d of delivered) expect(d.signed, `signature of ${d.id}`).toBe(true)
  // At least once: a retried id may arrive twice, always with the same body.
  const byId = new Map<string, Delivery>()
  for (const d of delivered) {
    const seen = byId.get(d.id)
    if (seen !== undefined) expect(d.body).toBe(seen.body)
    byId.set(d.id, d)
  }
  for (const [docId, count] of changes) {
    const events = [...byId.values()].map((d) => d.event).filter((e): e is Extract<WebhookEvent, { event: 'doc.changed' }> => e.event === 'doc.changed' && e.docId === docId)
    expect(events.reduce((n, e) => n + e.changes, 0), `changes of ${docId}`).toBeGreaterThanOrEqual(count)
    const latest = events.sort((a, b) => a.lastChangeAt.localeCompare(b.lastChangeAt)).at(-1)
    const live = await server.registry.get({ engine: 'yjs', docId: asDocId(docId) })
    expect(latest?.version, `final version of ${docId}`).toBe(live.doc.version())
  }
}

describe('webhooks', () => {
  it('with the receiver down for a while, then up: every change is delivered at least once, signed', async () => {
    const port = await freePort()
    const server = await startTestServer({
      webhookUrl: `http://127.0.0.1:${port}/hook`,
      webhookSecret: SECRET,
      webhookDebounceMs: 50,
      webhookRetryMs: 20,
      webhookRetryMaxMs: 200,
      nodeId: 'node-w',
    })
    const changes = new Map<string, number>()
    // Changes in several debounce windows while nothing listens.
    for (let round = 0; round < 3; round++) {
      for (let d = 0; d < 4; d++) {
        await edit(server, `doc-${d}`, 3, `r${round}-`)
        changes.set(`doc-${d}`, (changes.get(`doc-${d}`) ?? 0) + 3)
      }
      const failed = await failedAttempts(server)
      await eventually(async () => (await failedAttempts(server)) > failed, 10_000, 'a refused delivery attempt')
    }
    expect(await server.storage.outboxCount()).toBeGreaterThan(0)

    // Up, but failing at first (500s), then answering.
    const hook = receiver(port, 5)
    await hook.up()
    await edit(server, 'doc-0', 2, 'late-')
    changes.set('doc-0', (changes.get('doc-0') ?? 0) + 2)
    const finalVersions = async (): Promise<boolean> => {
      for (const docId of changes.keys()) {
        const version = (await server.registry.get({ engine: 'yjs', docId: asDocId(docId) })).doc.version()
        if (!hook.delivered.some((d) => d.event.event === 'doc.changed' && d.event.docId === docId && d.event.version === version)) return false
      }
      return true
    }
    let done = false
    await until(() => done, (cb) => hook.onDelivery(() => void finalVersions().then((ok) => ((done = ok), cb()))), 30_000, 'every final version delivered')
    // A message leaves the outbox once its 2xx answer is in.
    await eventually(async () => (await server.storage.outboxCount()) === 0, 10_000, 'an empty outbox')

    await expectEveryChangeDelivered(server, hook.delivered, changes)
    expect(hook.delivered.some((d) => d.attempt > 1)).toBe(true)
    expect(hook.delivered.every((d) => d.event.event !== 'doc.changed' || d.event.node === 'node-w')).toBe(true)
  })

  it('the outbox is durable: what could not be delivered before a restart is delivered after it', async () => {
    const port = await freePort()
    const dataDir = tempDir()
    const config = {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      anonymous: true,
      dataDir,
      webhookUrl: `http://127.0.0.1:${port}/hook`,
      webhookSecret: SECRET,
      webhookDebounceMs: 30,
      webhookRetryMs: 20,
      webhookRetryMaxMs: 100,
    }
    const first = await startServer(config)
    await edit(first, 'kept', 4, 'a')
    await eventually(async () => (await failedAttempts(first)) > 0, 10_000, 'a refused delivery attempt')
    await first.close()

    const hook = receiver(port)
    await hook.up()
    const second = await startServer(config)
    onTestFinished(() => second.close())
    await until(() => hook.delivered.length > 0, hook.onDelivery, 20_000, 'the delivery after the restart')
    await eventually(async () => (await second.storage.outboxCount()) === 0, 10_000, 'an empty outbox')
    await expectEveryChangeDelivered(second, hook.delivered, new Map([['kept', 4]]))
  })

  it('a deleted doc is announced; retry delays grow exponentially up to the cap', async () => {
    const port = await freePort()
    const hook = receiver(port)
    await hook.up()
    const server = await startTestServer({ webhookUrl: `http://127.0.0.1:${port}/hook`, webhookSecret: SECRET, webhookDebounceMs: 20 })
    await edit(server, 'gone', 1, 'x')
    const res = await server.http.inject({ method: 'DELETE', url: '/v1/docs/yjs/gone' })
    expect(res.statusCode).toBe(200)
    await until(() => hook.delivered.some((d) => d.event.event === 'doc.deleted'), hook.onDelivery, 10_000, 'doc.deleted')
    expect(hook.delivered.find((d) => d.event.event === 'doc.deleted')?.event).toMatchObject({ engine: 'yjs', docId: 'gone' })

    const half = (): number => 0.5
    expect([1, 2, 3, 4, 10, 40].map((n) => retryDelay(n, 1000, 60_000, half))).toEqual([750, 1500, 3000, 6000, 45_000, 45_000])
  })
})
