import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ChunkAssembler, MessageType, PROTOCOL_MAJOR, PROTOCOL_MINOR, decodeMessage, encodeMessage, type Message } from '@murmur/shared'
import { Wire, type System } from './systems.js'

/**
 * Protocol-level clients with no Y.Doc behind them: they sync, count the updates they receive, and
 * send pre-encoded updates. The load they put on the bench process is a fraction of a real provider's,
 * so a 2-core machine can drive a server to its limit (ingest) or hold 10,000 sockets (idle).
 */
export interface WireClient {
  /** Resolves once the server's state arrived (SyncStep2); rejects if the socket closed first. */
  readonly synced: Promise<void>
  /** Bytes of the server's SyncStep2 (the doc as the server sent it). */
  readonly syncedBytes: number
  /** Updates received from the server since connecting. */
  readonly received: number
  /** Updates the server acknowledged as durable (Murmur) or applied (Hocuspocus's sync status). */
  readonly acked: number
  /** Called with every update received. */
  onUpdate: ((update: Uint8Array) => void) | null
  sendUpdate(update: Uint8Array): void
  readonly bufferedAmount: number
  readonly lastError: string | null
  close(): void
}

const YSync = { step1: 0, step2: 1, update: 2 } as const
/** A state vector with no clients: "send me everything". */
const EMPTY_STATE_VECTOR = new Uint8Array([0])
/** An update with no structs and no deletes: what an empty doc answers to SyncStep1. */
const EMPTY_UPDATE = new Uint8Array([0, 0])

function ySyncMessage(type: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, type)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** A frame of y-websocket's protocol (outer type 0 = sync), or Hocuspocus's when `docName` prefixes it. */
function yFrame(docName: string | null, sync: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  if (docName !== null) encoding.writeVarString(e, docName)
  encoding.writeVarUint(e, 0)
  encoding.writeUint8Array(e, sync)
  return encoding.toUint8Array(e)
}

function hocuspocusAuth(docName: string): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, docName)
  encoding.writeVarUint(e, 2) // Auth
  encoding.writeVarUint(e, 0) // AuthMessageType.Token
  encoding.writeVarString(e, '')
  return encoding.toUint8Array(e)
}

class BaseWireClient implements WireClient {
  readonly ws: WebSocket
  readonly synced: Promise<void>
  syncedBytes = 0
  received = 0
  acked = 0
  onUpdate: ((update: Uint8Array) => void) | null = null
  lastError: string | null = null
  protected resolveSynced!: () => void
  protected isSynced = false

  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false })
    this.ws.binaryType = 'nodebuffer'
    let rejectSynced!: (err: Error) => void
    this.synced = new Promise<void>((resolve, reject) => {
      this.resolveSynced = () => {
        this.isSynced = true
        resolve()
      }
      rejectSynced = reject
    })
    this.synced.catch(() => undefined)
    this.ws.on('open', () => this.onOpen())
    this.ws.on('message', (data: Buffer) => {
      try {
        this.onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      } catch (err) {
        this.lastError = (err as Error).message
      }
    })
    this.ws.on('error', (err) => {
      this.lastError = err.message
    })
    this.ws.on('close', (code, reason) => {
      if (!this.isSynced) rejectSynced(new Error(`closed (${code} ${reason.toString()}) before synced${this.lastError !== null ? `: ${this.lastError}` : ''}`))
    })
  }

  protected onOpen(): void {}
  protected onFrame(_frame: Uint8Array): void {}

  /** Handle a y-protocols sync message; `reply` sends a sync message back. */
  protected onYSync(dec: decoding.Decoder, reply: (sync: Uint8Array) => void): void {
    const type = decoding.readVarUint(dec)
    const payload = decoding.readVarUint8Array(dec)
    if (type === YSync.update) {
      this.received++
      this.onUpdate?.(payload)
    } else if (type === YSync.step2) {
      this.syncedBytes = payload.length
      if (!this.isSynced) this.resolveSynced()
    } else if (type === YSync.step1) {
      // We hold nothing the server lacks.
      reply(ySyncMessage(YSync.step2, EMPTY_UPDATE))
    }
  }

  sendUpdate(_update: Uint8Array): void {}

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  protected sendRaw(frame: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame)
  }

  close(): void {
    this.ws.terminate()
  }
}

class YWebsocketWire extends BaseWireClient {
  protected override onOpen(): void {
    this.sendRaw(yFrame(null, ySyncMessage(YSync.step1, EMPTY_STATE_VECTOR)))
  }

  protected override onFrame(frame: Uint8Array): void {
    const dec = decoding.createDecoder(frame)
    if (decoding.readVarUint(dec) !== 0) return // awareness
    this.onYSync(dec, (sync) => this.sendRaw(yFrame(null, sync)))
  }

  override sendUpdate(update: Uint8Array): void {
    this.sendRaw(yFrame(null, ySyncMessage(YSync.update, update)))
  }
}

class HocuspocusWire extends BaseWireClient {
  constructor(
    url: string,
    private readonly docName: string,
  ) {
    super(url)
  }

  protected override onOpen(): void {
    this.sendRaw(hocuspocusAuth(this.docName))
    this.sendRaw(yFrame(this.docName, ySyncMessage(YSync.step1, EMPTY_STATE_VECTOR)))
  }

  protected override onFrame(frame: Uint8Array): void {
    const dec = decoding.createDecoder(frame)
    decoding.readVarString(dec)
    const type = decoding.readVarUint(dec)
    // 0 Sync and 4 SyncReply carry y-protocols sync; 8 is the sync status sent after each applied update.
    if (type === 0 || type === 4) this.onYSync(dec, (sync) => this.sendRaw(yFrame(this.docName, sync)))
    else if (type === 8) this.acked++
    else if (type === 2 && decoding.readVarUint(dec) === 1) this.lastError = 'permission denied'
  }

  override sendUpdate(update: Uint8Array): void {
    this.sendRaw(yFrame(this.docName, ySyncMessage(YSync.update, update)))
  }
}

const REF = 1

class MurmurWire extends BaseWireClient {
  private readonly assembler = new ChunkAssembler(1024 * 1024 * 1024)
  private nextId = 0

  constructor(
    url: string,
    private readonly docId: string,
  ) {
    super(url)
  }

  private send(msg: Message): void {
    this.sendRaw(encodeMessage(msg))
  }

  protected override onOpen(): void {
    this.send({ type: MessageType.hello, major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, token: '', client: 'murmur-bench' })
  }

  protected override onFrame(frame: Uint8Array): void {
    let msg = decodeMessage(frame)
    if (msg.type === MessageType.chunk) {
      const whole = this.assembler.push(msg)
      if (whole === null) return
      msg = decodeMessage(whole)
    }
    switch (msg.type) {
      case MessageType.welcome:
        this.send({ type: MessageType.open, ref: REF, engine: 'yjs', docId: this.docId })
        this.send({ type: MessageType.sync, ref: REF, payload: ySyncMessage(YSync.step1, EMPTY_STATE_VECTOR) })
        return
      case MessageType.sync:
        this.onYSync(decoding.createDecoder(msg.payload), (payload) => this.send({ type: MessageType.sync, ref: REF, payload }))
        return
      case MessageType.ack:
        this.acked += msg.ids.length
        return
      case MessageType.ping:
        this.send({ type: MessageType.pong, nonce: msg.nonce })
        return
      case MessageType.error:
        this.lastError = `${msg.code}: ${msg.message}`
        return
      default:
        return
    }
  }

  override sendUpdate(update: Uint8Array): void {
    this.send({ type: MessageType.update, ref: REF, id: `u${(this.nextId++).toString(36)}`, replicas: 1, payload: update })
  }
}

/** Open a raw client of `system` on `docId` at the server whose WebSocket base URL is `wsBase`. */
export function openWire(system: System, wsBase: string, docId: string): WireClient {
  const url = system.wireUrl(wsBase, docId)
  switch (system.wire) {
    case Wire.murmur:
      return new MurmurWire(url, docId)
    case Wire.hocuspocus:
      return new HocuspocusWire(url, docId)
    case Wire.yWebsocket:
      return new YWebsocketWire(url)
  }
}
