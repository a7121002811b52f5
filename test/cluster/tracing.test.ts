/**
 * OpenTelemetry: two `murmur serve` processes configured only through the standard OTEL_* variables
 * send their spans to an OTLP/HTTP JSON receiver; one replicated update makes one trace with spans from
 * both nodes (the W3C trace context crosses the peer link), its webhook delivery included (the context
 * waits in the outbox with the event). Without the variables nothing is sent.
 */
import { createServer } from 'node:http'
import { describe, expect, it, onTestFinished } from 'vitest'
import * as Y from 'yjs'
import { spawnNode, type NodeProcess } from '../support/servers.js'
import { eventually, within } from '../support/wait.js'

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  startTimeUnixNano: string
  links?: { traceId: string; spanId: string }[]
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[]
}

/** An OTLP/HTTP JSON receiver on port 0: every span it got, and a promise per span count. */
async function otlpReceiver(): Promise<{ endpoint: string; spans: OtlpSpan[]; changed: (listener: () => void) => () => void }> {
  const spans: OtlpSpan[] = []
  const listeners = new Set<() => void>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        expect(req.headers['content-type']).toMatch(/application\/json/u)
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
        for (const l of listeners) l()
      }
      // The webhook endpoint refuses every delivery, so the node logs each failed attempt.
      res.writeHead(req.url === '/hook' ? 500 : 200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    changed: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

function attr(span: OtlpSpan, key: string): string | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value
  return v?.stringValue ?? (v?.intValue !== undefined ? String(v.intValue) : undefined)
}

async function meshed(nodes: NodeProcess[]): Promise<void> {
  await eventually(
    async () => {
      for (const n of nodes) {
        const c = (await (await fetch(`${n.url}/v1/cluster`)).json()) as { members: { state: string; connected: boolean }[] }
        if (c.members.length !== nodes.length || !c.members.every((m) => m.state === 'alive' && m.connected)) return false
      }
      return true
    },
    20_000,
    'the two nodes linked',
  )
}

function yjsUpdate(text: string): Blob {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return new Blob([Uint8Array.from(Y.encodeStateAsUpdate(d))])
}

describe('tracing', () => {
  it('one replicated update is one trace with spans from both nodes and its webhook delivery, doc id and engine on each', async () => {
    const receiver = await otlpReceiver()
    const env = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'murmur-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    }
    const common = ['--port', '0', '--storage', 'memory', '--cluster-secret', 'trace-secret', '--replication-factor', '2', '--probe-interval-ms', '200']
    const webhook = ['--webhook-url', `${receiver.endpoint}/hook`, '--webhook-secret', 'hook-secret', '--webhook-debounce-ms', '50', '--log-level', 'debug']
    const a = await spawnNode([...common, '--node-id', 'node-a', ...webhook], env)
    expect(a.output.join('\n')).toMatch(/tracing: OTLP\/HTTP JSON/u)
    const b = await spawnNode([...common, '--node-id', 'node-b', '--peers', a.url.replace('http', 'ws')], env)
    await meshed([a, b])

    const res = await fetch(`${a.url}/v1/docs/yjs/traced-doc/updates?replicas=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: yjsUpdate('hello'),
    })
    expect(res.status).toBe(200)

    // The trace of the update: the span where it arrived over HTTP on node a.
    const complete = (): boolean => {
      const arrival = receiver.spans.find((s) => s.name === 'murmur.update' && attr(s, 'murmur.arrival') === 'http')
      if (arrival === undefined) return false
      const trace = receiver.spans.filter((s) => s.traceId === arrival.traceId)
      return trace.some((s) => s.name === 'murmur.storage.commit' && attr(s, 'murmur.node') === 'node-b') && trace.some((s) => s.name === 'murmur.webhook.deliver')
    }
    await within(
      new Promise<void>((resolve) => {
        if (complete()) return resolve()
        const off = receiver.changed(() => {
          if (!complete()) return
          off()
          resolve()
        })
      }),
      15_000,
      'the spans of both nodes and of the webhook delivery',
    )
    const arrival = receiver.spans.find((s) => s.name === 'murmur.update' && attr(s, 'murmur.arrival') === 'http') as OtlpSpan
    const trace = receiver.spans.filter((s) => s.traceId === arrival.traceId)
    const names = (node: string): string[] => [...new Set(trace.filter((s) => attr(s, 'murmur.node') === node).map((s) => s.name))].sort()
    expect(names('node-a')).toEqual(['murmur.doc.apply', 'murmur.doc.fanout', 'murmur.replication.push', 'murmur.storage.commit', 'murmur.update', 'murmur.webhook.deliver'])
    expect(names('node-b')).toEqual(['murmur.doc.apply', 'murmur.doc.fanout', 'murmur.replication.receive', 'murmur.storage.commit', 'murmur.update'])
    for (const s of trace) {
      expect(attr(s, 'murmur.doc.id'), s.name).toBe('traced-doc')
      expect(attr(s, 'murmur.doc.engine'), s.name).toBe('yjs')
    }
    // Node b's receive span is the child of node a's push span: the context crossed the link.
    const push = trace.find((s) => s.name === 'murmur.replication.push') as OtlpSpan
    const receive = trace.find((s) => s.name === 'murmur.replication.receive') as OtlpSpan
    expect(receive.parentSpanId).toBe(push.spanId)

    // The webhook delivery is a child of the span the change was made in (node a's apply), and the log
    // line of its failed attempt carries its trace and span ids.
    const apply = trace.find((s) => s.name === 'murmur.doc.apply' && attr(s, 'murmur.node') === 'node-a') as OtlpSpan
    const deliveries = trace.filter((s) => s.name === 'murmur.webhook.deliver')
    for (const d of deliveries) expect(d.parentSpanId).toBe(apply.spanId)
    let logged: { trace_id?: string; span_id?: string } | undefined
    await eventually(
      async () => {
        const line = a.output.find((l) => l.includes('webhook delivery failed'))
        logged = line === undefined ? undefined : (JSON.parse(line) as { trace_id?: string })
        return logged !== undefined && receiver.spans.some((s) => s.name === 'murmur.webhook.deliver' && s.spanId === logged?.span_id)
      },
      15_000,
      'a failed webhook delivery logged inside its span',
    )
    const deliver = receiver.spans.find((s) => s.name === 'murmur.webhook.deliver' && s.spanId === logged?.span_id) as OtlpSpan
    expect(logged?.trace_id).toBe(arrival.traceId)
    expect(deliver.traceId).toBe(arrival.traceId)
    expect(attr(deliver, 'murmur.doc.id')).toBe('traced-doc')
  })

  it('a webhook event standing for two updates is delivered in the trace of the first, linked to the second', async () => {
    const receiver = await otlpReceiver()
    const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' }
    // A window long enough that both updates fall into it, however slow the machine.
    const node = await spawnNode(['--port', '0', '--storage', 'memory', '--webhook-url', `${receiver.endpoint}/hook`, '--webhook-secret', 'hook-secret', '--webhook-debounce-ms', '4000'], env)
    for (const text of ['one', 'two']) {
      const res = await fetch(`${node.url}/v1/docs/yjs/batched-doc/updates`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: yjsUpdate(text) })
      expect(res.status).toBe(200)
    }
    await eventually(async () => receiver.spans.some((s) => s.name === 'murmur.webhook.deliver'), 20_000, 'a webhook delivery span')
    const applies = receiver.spans.filter((s) => s.name === 'murmur.doc.apply').sort((x, y) => (BigInt(x.startTimeUnixNano) < BigInt(y.startTimeUnixNano) ? -1 : 1))
    expect(applies).toHaveLength(2)
    expect(applies[0].traceId).not.toBe(applies[1].traceId)
    const deliver = receiver.spans.find((s) => s.name === 'murmur.webhook.deliver') as OtlpSpan
    expect(deliver.traceId).toBe(applies[0].traceId)
    expect(deliver.parentSpanId).toBe(applies[0].spanId)
    expect(deliver.links?.map((l) => [l.traceId, l.spanId])).toEqual([[applies[1].traceId, applies[1].spanId]])
  })

  it('sends nothing without OTEL_TRACES_EXPORTER', async () => {
    const receiver = await otlpReceiver()
    const node = await spawnNode(['--port', '0', '--storage', 'memory'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50' })
    expect(node.output.join('\n')).toMatch(/tracing: off/u)
    const res = await fetch(`${node.url}/v1/docs/yjs/untraced/updates`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: yjsUpdate('x') })
    expect(res.status).toBe(200)
    // Shut down cleanly: a tracer would flush what it buffered on the way out.
    await node.kill('SIGTERM')
    expect(receiver.spans).toHaveLength(0)
  })
})
