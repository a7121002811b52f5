import { ROOT_CONTEXT, context, isSpanContextValid, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api'
import type { DocKey } from '../storage/storage.js'

/**
 * OpenTelemetry tracing of the update path. Off unless `startTracing` (the `murmur serve` command,
 * from the standard `OTEL_*` variables) installed a tracer; while it is off every helper here is one
 * null check, so the hot path pays nothing for it.
 */
let tracer: Tracer | null = null

/** Which node this process is (a span attribute: several nodes may report under one service name). */
let nodeId = ''

/** Make spans from now on (set by `startTracing`; null turns tracing off again). */
export function useTracer(next: Tracer | null, node = ''): void {
  tracer = next
  nodeId = node
}

export function setTracedNode(node: string): void {
  nodeId = node
}

export function tracingOn(): boolean {
  return tracer !== null
}

/** The attributes every span about a doc carries. */
function docAttributes(key: DocKey): Record<string, string> {
  return { 'murmur.doc.id': key.docId, 'murmur.doc.engine': key.engine, 'murmur.node': nodeId }
}

/**
 * Run `fn` inside a span `name` about the doc (a child of the active span); the span ends when the
 * promise `fn` returns settles. Without tracing, just `fn()`.
 */
export function traced<T>(name: string, key: DocKey, attributes: Record<string, string | number>, fn: () => Promise<T>): Promise<T> {
  if (tracer === null) return fn()
  return tracer.startActiveSpan(name, { attributes: { ...docAttributes(key), ...attributes } }, (span) => endWith(span, fn))
}

/**
 * `traced`, for work done later on behalf of earlier updates (a webhook delivery), given their W3C
 * `traceparent`s: a child of the first one's span, so it is part of that update's trace, with a link to
 * each of the others; the root of a trace of its own when none is known. Whatever span happens to be
 * active when it starts (the timer that sends it may run in the context of any update) is not its parent.
 */
export function tracedAfter<T>(name: string, key: DocKey, attributes: Record<string, string | number>, traceparents: readonly string[], fn: () => Promise<T>): Promise<T> {
  if (tracer === null) return fn()
  const causes = traceparents.map(spanContextOf).filter((c): c is SpanContext => c !== null)
  const parent = causes.length === 0 ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, causes[0])
  const links = causes.slice(1).map((c) => ({ context: c }))
  return tracer.startActiveSpan(name, { root: causes.length === 0, links, attributes: { ...docAttributes(key), ...attributes } }, parent, (span) => endWith(span, fn))
}

/** The W3C `traceparent` of the active span, to continue its trace later ('' when off or outside a span). */
export function activeTraceparent(): string {
  if (tracer === null || trace.getActiveSpan() === undefined) return ''
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier.traceparent ?? ''
}

function spanContextOf(traceparent: string): SpanContext | null {
  const found = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, { traceparent }))
  return found !== undefined && isSpanContextValid(found) ? found : null
}

/** `traced`, for synchronous work. */
export function tracedSync<T>(name: string, key: DocKey, fn: () => T): T {
  if (tracer === null) return fn()
  return tracer.startActiveSpan(name, { attributes: docAttributes(key) }, (span) => {
    try {
      return fn()
    } catch (err) {
      fail(span, err)
      throw err
    } finally {
      span.end()
    }
  })
}

/** A span around a promise already under way (a storage commit): it ends when the promise settles. */
export function spanUntil<T>(name: string, key: DocKey, work: Promise<T>): Promise<T> {
  if (tracer === null) return work
  const span = tracer.startSpan(name, { attributes: docAttributes(key) })
  work.then(
    () => span.end(),
    (err: unknown) => {
      fail(span, err)
      span.end()
    },
  )
  return work
}

/** A span for a message sent to another node, and the W3C `traceparent` that continues it there ('' when off). */
export function sendSpan(name: string, key: DocKey, peer: string): { readonly traceparent: string; end(): void } {
  if (tracer === null) return NO_SEND
  const span = tracer.startSpan(name, { kind: SpanKind.PRODUCER, attributes: { ...docAttributes(key), 'murmur.peer': peer } })
  const carrier: Record<string, string> = {}
  propagation.inject(trace.setSpan(context.active(), span), carrier)
  return { traceparent: carrier.traceparent ?? '', end: () => span.end() }
}

const NO_SEND = { traceparent: '', end: (): void => undefined }

/** Run `fn` in a span that continues the trace of another node's `traceparent` (or starts one). */
export function receivedFrom<T>(name: string, key: DocKey, traceparent: string, peer: string, fn: () => Promise<T>): Promise<T> {
  if (tracer === null) return fn()
  const parent: Context = traceparent === '' ? context.active() : propagation.extract(context.active(), { traceparent })
  return tracer.startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes: { ...docAttributes(key), 'murmur.peer': peer } }, parent, (span) => endWith(span, fn))
}

/** The trace and span ids of the active span, for log lines (empty when off or outside a span). */
export function traceFields(): Record<string, string> {
  if (tracer === null) return {}
  const ctx = trace.getActiveSpan()?.spanContext()
  return ctx === undefined ? {} : { trace_id: ctx.traceId, span_id: ctx.spanId }
}

function endWith<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  let work: Promise<T>
  try {
    work = fn()
  } catch (err) {
    fail(span, err)
    span.end()
    throw err
  }
  return work.then(
    (v) => {
      span.end()
      return v
    },
    (err: unknown) => {
      fail(span, err)
      span.end()
      throw err
    },
  )
}

function fail(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
}
