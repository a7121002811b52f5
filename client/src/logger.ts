/** The console-shaped logger the SDK writes to; pass your own, or `silentLogger`. */
export interface Logger {
  debug(...args: unknown[]): void
  info(...args: unknown[]): void
  warn(...args: unknown[]): void
  error(...args: unknown[]): void
}

const noop = (): void => undefined
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }
