import type { Message } from '@murmur/shared/core'
import type { Logger } from './logger.js'

/**
 * An event handler property. Checked like a method (bivariantly), so that implementations whose events
 * carry more than the SDK reads (the browser's `Event`, `ws`'s `CloseEvent`) fit as they are.
 */
type Handler<E> = { handle(ev: E): void }['handle'] | null

/** The subset of the WebSocket API the SDK uses; the browser's and `ws`'s both fit. */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  onopen: Handler<unknown>
  onclose: Handler<{ code: number; reason: string }>
  onmessage: Handler<{ data: unknown }>
  onerror: Handler<unknown>
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export const ConnectionState = {
  /** Not trying: offline mode, or the browser reports no network. */
  offline: 'offline',
  /** Opening a socket, handshaking, or waiting to retry. */
  connecting: 'connecting',
  /** Welcomed by a server. */
  open: 'open',
  /** `close()` was called. */
  closed: 'closed',
  /**
   * The server refused the token (close 4401) and `getToken` had no other one: not retrying until a new
   * token comes (`setToken`, `refreshToken`, or `reconnectNow` when `getToken` will now give one).
   */
  unauthorized: 'unauthorized',
} as const
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState]

export interface ConnectionOptions {
  /** ws(s)://host:port/sync: one node, or (with `urls`) the one to start on. */
  readonly url?: string
  /** The URLs of several nodes of one cluster: the connection moves to another when its node is unreachable. */
  readonly urls?: readonly string[]
  readonly WebSocket: WebSocketConstructor
  readonly getToken: () => string | Promise<string>
  readonly clientName: string
  readonly log: Logger
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
  /** Send a ping when nothing was received for this long. */
  readonly pingIntervalMs?: number
  /** Drop the socket when nothing was received for this long (and we are not still sending). */
  readonly deadAfterMs?: number
  readonly maxMessageBytes?: number
  /** Give up on an attempt (and move on) when no welcome came within this (default 10 s). */
  readonly connectTimeoutMs?: number
  /** Uniform in [0, 1) for the choice of node and the jitter; `Math.random` by default. */
  readonly random?: () => number
}

/** What a state change says besides the state: the node it concerns, and why a socket closed. */
export interface ConnectionDetail {
  /** The URL of the node connected to (`open`) or being tried (`connecting`). */
  url?: string
  /** The id of the node that welcomed us (`open`). */
  nodeId?: string
  code?: number
  reason?: string
}

export interface ConnectionEvents {
  state(state: ConnectionState, detail: ConnectionDetail): void
  message(msg: Message): void
}
