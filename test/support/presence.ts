import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'
import { onTestFinished } from 'vitest'
import { MessageType, PROTOCOL_MAJOR, PROTOCOL_MINOR, decodeAwarenessEntries, decodeMessage, encodeAwarenessEntries, encodeMessage, type AwarenessEntry } from '@murmur/shared'
import { encodeYWsFrame } from '../../server/dist/sync/y-websocket.js'
import { wsUrl } from './servers.js'
import { until, within } from './wait.js'

/**
 * A bare presence client of `/yjs/<doc>` or `/sync`: it sends awareness entries as it is told (forged
 * ones too) and keeps the live states it was told about, so a test can see what every joiner sees.
 */
export class PresenceClient {
  /** Live states by client id, as this socket learned them. */
  readonly states = new Map<number, string>()
  readonly closed: Promise<{ code: number; reason: string }>
  private listeners = new Set<() => void>()
  private ready: Promise<void>

  private constructor(
    private readonly ws: WebSocket,
    private readonly endpoint: 'yjs' | 'sync',
    docId: string,
    token: string,
  ) {
    ws.binaryType = 'nodebuffer'
    ws.on('error', () => undefined)
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    ws.on('message', (data: Buffer) => this.received(new Uint8Array(data)))
    let welcomed: () => void = () => undefined
    this.ready = new Promise<void>((resolve) => (welcomed = resolve))
    ws.once('open', () => {
      if (endpoint === 'yjs') {
        welcomed()
        return
      }
      ws.send(encodeMessage({ type: MessageType.hello, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, token, client: 'presence-test' }))
      ws.send(encodeMessage({ type: MessageType.open, ref: 1, engine: 'yjs', docId }))
      welcomed()
    })
  }

  static async open(httpUrl: string, endpoint: 'yjs' | 'sync', docId: string, token = ''): Promise<PresenceClient> {
    const query = token === '' ? '' : `?token=${encodeURIComponent(token)}`
    const path = endpoint === 'yjs' ? `/yjs/${encodeURIComponent(docId)}${query}` : `/sync${query}`
    const client = new PresenceClient(new WebSocket(wsUrl(httpUrl, path)), endpoint, docId, token)
    onTestFinished(() => client.ws.terminate())
    await within(client.ready, 10_000, `the ${endpoint} socket to open`)
    return client
  }

  send(entries: readonly AwarenessEntry[]): void {
    const update = encodeAwarenessEntries(entries)
    this.ws.send(this.endpoint === 'yjs' ? encodeYWsFrame(1, update, true) : encodeMessage({ type: MessageType.awareness, ref: 1, payload: update }))
  }

  close(): void {
    this.ws.close()
  }

  /** Resolve once `check()` holds, re-checked on every awareness message this socket gets. */
  until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
    return until(
      check,
      (fn) => {
        this.listeners.add(fn)
        return () => this.listeners.delete(fn)
      },
      ms,
      what,
    )
  }

  private received(frame: Uint8Array): void {
    let update: Uint8Array | null = null
    if (this.endpoint === 'yjs') {
      const dec = decoding.createDecoder(frame)
      if (decoding.readVarUint(dec) === 1) update = decoding.readVarUint8Array(dec)
    } else {
      const msg = decodeMessage(frame)
      if (msg.type === MessageType.awareness) update = msg.payload
    }
    if (update === null) return
    for (const e of decodeAwarenessEntries(update)) {
      if (e.state === 'null') this.states.delete(e.clientId)
      else this.states.set(e.clientId, e.state)
    }
    for (const fn of this.listeners) fn()
  }
}

export const state = (user: string, pad = 0): string => JSON.stringify({ user, pad: 'x'.repeat(pad) })
