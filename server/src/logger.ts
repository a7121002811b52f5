import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import { traceFields } from './tracing/tracing.js'

/** The server's structured logger (pino, which is also Fastify's). */
export type Logger = FastifyBaseLogger

/** Tests pass level "silent". */
export function createLogger(level: string): Logger {
  // With tracing on, a line logged inside a span carries its trace_id and span_id.
  return pino({ level, base: undefined, mixin: traceFields })
}
