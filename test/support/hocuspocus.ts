import * as Y from 'yjs'
import { onTestFinished } from 'vitest'
import * as v4 from '@hocuspocus/provider'
import * as v3 from 'hocuspocus-provider-v3'
import { until } from './wait.js'

/** What the tests use of a provider, the same in 3.x and 4.x. */
export interface Provider {
  readonly document: Y.Doc
  readonly isSynced: boolean
  readonly hasUnsyncedChanges: boolean
  readonly unsyncedChanges: number
  readonly isAuthenticated: boolean
  readonly authorizedScope: string | undefined
  readonly awareness: {
    setLocalStateField(key: string, value: unknown): void
    getStates(): Map<number, Record<string, unknown>>
    on(name: 'change', fn: () => void): void
    off(name: 'change', fn: () => void): void
  } | null
  on(name: string, fn: (...args: never[]) => void): unknown
  off(name: string, fn: (...args: never[]) => void): unknown
  sendStateless(payload: string): void
  attach(): void
  destroy(): void
}

/** What the tests use of a shared socket. */
export interface ProviderSocket {
  connect(): Promise<unknown>
  disconnect(): void
  destroy(): void
  readonly status: string
  on(name: string, fn: (...args: never[]) => void): unknown
  off(name: string, fn: (...args: never[]) => void): unknown
}

interface ProviderOptions {
  readonly token?: string | null
  /** More of the provider's own settings (`sessionAwareness`, …). */
  readonly settings?: Record<string, unknown>
  readonly document?: Y.Doc
  readonly websocketProvider?: ProviderSocket
}

type ProviderCtor = new (config: Record<string, unknown>) => Provider
type SocketCtor = new (config: Record<string, unknown>) => ProviderSocket

/** An unmodified `@hocuspocus/provider` of one major version. */
export interface ProviderVersion {
  readonly name: string
  readonly version: string
  /** A provider on its own socket, or on `websocketProvider`; destroyed when the test finishes. */
  provider(url: string, name: string, options?: ProviderOptions): Provider
  /** A socket several providers share (`options`: the socket's own settings); destroyed when the test finishes. */
  socket(url: string, options?: Record<string, unknown>): ProviderSocket
}

function version(label: string, mod: { HocuspocusProvider: unknown; HocuspocusProviderWebsocket: unknown }, v: string): ProviderVersion {
  const P = mod.HocuspocusProvider as ProviderCtor
  const S = mod.HocuspocusProviderWebsocket as SocketCtor
  return {
    name: label,
    version: v,
    provider(url, name, options = {}) {
      const document = options.document ?? new Y.Doc()
      const config: Record<string, unknown> = { token: options.token ?? null, ...options.settings, name, document }
      if (options.websocketProvider !== undefined) config.websocketProvider = options.websocketProvider
      else config.url = url
      const p = new P(config)
      // A provider on a shared socket starts once attached (both versions).
      if (options.websocketProvider !== undefined) p.attach()
      onTestFinished(() => p.destroy())
      return p
    },
    socket(url, options = {}) {
      const s = new S({ ...options, url })
      onTestFinished(() => s.destroy())
      return s
    },
  }
}

export const PROVIDERS: readonly ProviderVersion[] = [
  version('@hocuspocus/provider 4.x', v4, '4'),
  version('@hocuspocus/provider 3.x', v3, '3'),
]

/** The endpoint URL of a node (`http://…`). */
export function hocuspocusUrl(httpUrl: string, path = '/hocuspocus'): string {
  return httpUrl.replace(/^http/u, 'ws') + path
}

function on(p: Provider, ...names: string[]): (cb: () => void) => () => void {
  return (cb) => {
    const fn = (): void => cb()
    for (const n of names) p.on(n, fn)
    return () => names.forEach((n) => p.off(n, fn))
  }
}

/** Resolve once the provider has synced and the server has acknowledged every change it sent. */
export function untilProviderSynced(p: Provider, ms = 20_000): Promise<void> {
  return until(() => p.isSynced && !p.hasUnsyncedChanges, on(p, 'synced', 'unsyncedChanges'), ms, 'the provider to be synced with nothing unsaved')
}

/** Resolve with the reason of the provider's `authenticationFailed`. */
export function authenticationFailed(p: Provider, ms = 20_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for authenticationFailed')), ms)
    p.on('authenticationFailed', ((e: { reason: string }) => {
      clearTimeout(timer)
      resolve(e.reason)
    }) as never)
  })
}

/** Resolve once the provider has authenticated (with the scope the server granted). */
export function untilAuthenticated(p: Provider, ms = 20_000): Promise<void> {
  return until(() => p.isAuthenticated, on(p, 'authenticated'), ms, 'the provider to authenticate')
}

/** The next stateless payload the provider receives. */
export function nextStateless(p: Provider, ms = 20_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a stateless message')), ms)
    const fn = ((e: { payload: string }) => {
      clearTimeout(timer)
      p.off('stateless', fn)
      resolve(e.payload)
    }) as never
    p.on('stateless', fn)
  })
}
