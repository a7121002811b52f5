import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'

/** The server's structured logger (pino, which is also Fastify's). */
export type Logger = FastifyBaseLogger

/** Tests pass level "silent". */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined })
}
