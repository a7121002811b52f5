import { trace } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { useTracer } from './tracing.js'

/** A running tracer: `shutdown` sends what is still buffered. */
export interface Tracing {
  readonly description: string
  shutdown(): Promise<void>
}

export class TracingConfigError extends Error {
  override name = 'TracingConfigError'
}

/**
 * Start OpenTelemetry tracing when the standard variables ask for it: `OTEL_TRACES_EXPORTER=otlp` (off
 * when unset or `none`, and when `OTEL_SDK_DISABLED=true`). The OTLP/HTTP exporter sends JSON to
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces` (default
 * http://localhost:4318), with `OTEL_EXPORTER_OTLP_HEADERS`; batching follows `OTEL_BSP_*`; the resource
 * takes `OTEL_SERVICE_NAME` (default `murmur`) and `OTEL_RESOURCE_ATTRIBUTES`. Returns null when off.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): Tracing | null {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return null
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((x) => x.trim().toLowerCase()).filter((x) => x !== '' && x !== 'none')
  if (exporters.length === 0) return null
  if (exporters.some((x) => x !== 'otlp')) throw new TracingConfigError(`OTEL_TRACES_EXPORTER: only "otlp" (or "none") is supported, got "${env.OTEL_TRACES_EXPORTER}"`)
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/json'
  if (protocol !== 'http/json') throw new TracingConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL: Murmur exports traces as http/json, got "${protocol}"`)
  const resource = resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? 'murmur' }).merge(detectResources({ detectors: [envDetector] }))
  const exporter = new OTLPTraceExporter()
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] })
  // Registers the W3C trace-context propagator and the async-hooks context manager as well.
  provider.register()
  useTracer(trace.getTracer('murmur'))
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318'} (/v1/traces)`
  return {
    description: `OTLP/HTTP JSON to ${endpoint}`,
    async shutdown() {
      useTracer(null)
      await provider.shutdown()
    },
  }
}
