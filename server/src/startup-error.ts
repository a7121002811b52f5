/**
 * A reason a node cannot start that the operator fixes: a flag, a path, a port, a database. Its message
 * is one line that names the flag or path and says what to do; `murmur serve` prints it without a stack.
 */
export class StartupError extends Error {
  override name = 'StartupError'
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : ''
}

/** The first line of an error's message: what a one-line report can carry. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.split('\n')[0] ?? text
}

/** A store that could not be opened, named by the flag that chose it. */
export function storeOpenError(storage: string, dataDir: string, err: unknown): StartupError {
  const spec = storage.trim()
  const cause = err instanceof Error && err.cause !== undefined ? `: ${firstLine(err.cause)}` : ''
  const what = spec === '' || spec === 'sqlite' ? `--data-dir ${dataDir}` : `--storage ${spec.replace(/\/\/[^@/]*@/u, '//')}`
  return new StartupError(`${what}: cannot open the store (${firstLine(err)}${cause}); check the path or URL and its permissions`)
}

/** A listen that failed: a port in use, a port that needs privileges, a host that is not ours. */
export function listenError(host: string, port: number, err: unknown): StartupError {
  const code = errnoOf(err)
  if (code === 'EADDRINUSE') return new StartupError(`--port ${port}: ${host}:${port} is already in use; stop what listens there or pick another --port`)
  if (code === 'EACCES') return new StartupError(`--port ${port}: permission denied to listen on ${host}:${port}; pick a port above 1023 or run with the right privileges`)
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new StartupError(`--host ${host}: not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses`)
  return new StartupError(`cannot listen on ${host}:${port} (${code || firstLine(err)}); check --host and --port`)
}
