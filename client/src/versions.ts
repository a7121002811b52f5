/**
 * A doc's version history through the node's HTTP API (`/v1/docs/:engine/:docId/versions`), with the
 * client's token: list, read, compare, name, restore, delete, and who wrote each text span.
 */
import type { AuthoredSpan, RestoreResult, VersionDiff, VersionInfo } from '@murmur/shared/core'

/** An error answer of the node: its stable code and message, and the HTTP status. */
export class VersionApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message)
    this.name = 'VersionApiError'
  }
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{
  ok: boolean
  status: number
  json(): Promise<unknown>
}>

export interface DocVersionsOptions {
  /** http(s)://host:port of the node to ask, read at each request (the client may have moved). */
  readonly baseUrl: string | (() => string)
  readonly engine: string
  readonly docId: string
  readonly token: () => Promise<string>
  readonly fetch: FetchLike
}

/** The version history of one doc. `current` stands for the doc now where a version id is taken. */
export class DocVersions {
  constructor(private readonly options: DocVersionsOptions) {}

  async list(): Promise<VersionInfo[]> {
    return ((await this.call('GET', '')) as { versions: VersionInfo[] }).versions
  }

  /** Name the doc as it is now (the server's copy: send local edits first, see `DocHandle.unsavedCount`). */
  async create(name: string): Promise<VersionInfo> {
    return ((await this.call('POST', '', { name })) as { version: VersionInfo }).version
  }

  /** A version's content, as JSON. */
  async get(id: string): Promise<{ version: VersionInfo; content: unknown }> {
    return (await this.call('GET', `/${encodeURIComponent(id)}`)) as { version: VersionInfo; content: unknown }
  }

  async diff(id: string, to = 'current'): Promise<VersionDiff> {
    return (await this.call('GET', `/${encodeURIComponent(id)}/diff?to=${encodeURIComponent(to)}`)) as VersionDiff
  }

  /** Who wrote each run of the root text `field` (Yjs docs). */
  async authors(id: string, field: string): Promise<AuthoredSpan[]> {
    return ((await this.call('GET', `/${encodeURIComponent(id)}/authors?field=${encodeURIComponent(field)}`)) as { spans: AuthoredSpan[] }).spans
  }

  /** Give the doc the version's content as a new change; every client merges it like any other. */
  async restore(id: string): Promise<RestoreResult> {
    return (await this.call('POST', `/${encodeURIComponent(id)}/restore`)) as RestoreResult
  }

  async delete(id: string): Promise<void> {
    await this.call('DELETE', `/${encodeURIComponent(id)}`)
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const { engine, docId } = this.options
    const baseUrl = typeof this.options.baseUrl === 'string' ? this.options.baseUrl : this.options.baseUrl()
    const url = `${baseUrl}/v1/docs/${encodeURIComponent(engine)}/${encodeURIComponent(docId)}/versions${path}`
    const token = await this.options.token()
    const headers: Record<string, string> = {}
    if (token !== '') headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await this.options.fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const json = (await res.json()) as { code?: unknown; message?: unknown }
    if (!res.ok) throw new VersionApiError(String(json.code ?? 'MUR_ERR_INTERNAL'), String(json.message ?? `HTTP ${res.status}`), res.status)
    return json
  }
}

/** The node's HTTP base URL from the client's URL (ws → http, the path dropped). */
export function httpBaseUrl(url: string): string {
  const u = new URL(url)
  if (u.protocol === 'ws:') u.protocol = 'http:'
  else if (u.protocol === 'wss:') u.protocol = 'https:'
  return u.origin
}
