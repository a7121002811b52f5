import type { NodeId } from '@murmur/shared'
import { MemberState, type SwimMessage } from './membership-api.js'

/**
 * The SWIM messages membership exchanges, and the piggyback queue that rides on them.
 * Everything here crosses the wire as JSON, so every field is a plain number, string or array, and
 * `parseSwimMessage` checks all of it: a peer's bytes are untrusted until they pass.
 */

/** One member's state as gossiped. `from` names who suspected (or declared dead) — Lifeguard counts distinct ones. */
export type MemberUpdate = {
  readonly id: NodeId
  readonly url: string
  readonly state: MemberState
  readonly incarnation: number
  readonly from?: NodeId
}

/**
 * `ping` names its target so that a different node now listening at the same link does not ack for it;
 * `claim` is Lifeguard's buddy system: the suspicion (or death) the prober holds about the target, so it
 * can refute at once.
 */
export type Ping = { readonly kind: 'ping'; readonly seq: number; readonly target: NodeId; readonly claim?: MemberUpdate; readonly gossip: MemberUpdate[] }
export type Ack = { readonly kind: 'ack'; readonly seq: number; readonly gossip: MemberUpdate[] }
/** Ask the receiver to ping `target` for us and forward the ack (or a nack if none comes). */
export type PingReq = { readonly kind: 'ping-req'; readonly seq: number; readonly target: NodeId; readonly claim?: MemberUpdate; readonly gossip: MemberUpdate[] }
/** Lifeguard: the relay is alive but heard nothing from the target, so the requester's own link is fine. */
export type Nack = { readonly kind: 'nack'; readonly seq: number; readonly gossip: MemberUpdate[] }
/** One-way dissemination, used to announce a leave or a decommission without waiting for a probe. */
export type Gossip = { readonly kind: 'gossip'; readonly gossip: MemberUpdate[] }
/** Full state exchange; the receiver of a non-reply answers with its own full state. */
export type PushPull = { readonly kind: 'push-pull'; readonly reply: boolean; readonly members: MemberUpdate[] }

export type SwimMsg = Ping | Ack | PingReq | Nack | Gossip | PushPull

/** The contract's message type is deliberately loose; ours are always instances of it. */
export function toWire(msg: SwimMsg): SwimMessage {
  return msg
}

const STATES = new Set<string>(Object.values(MemberState))
/** Generous caps: a cluster is 3–50 nodes; anything larger is garbage or an attack. */
const MAX_LIST = 1024
const MAX_ID = 128
const MAX_URL = 2048

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isId = (v: unknown): v is NodeId => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

function parseUpdate(v: unknown): MemberUpdate | null {
  if (!isRecord(v)) return null
  const { id, url, state, incarnation, from } = v
  if (!isId(id) || typeof url !== 'string' || url.length > MAX_URL) return null
  if (typeof state !== 'string' || !STATES.has(state) || !isSeq(incarnation)) return null
  if (from !== undefined && !isId(from)) return null
  const base = { id, url, state: state as MemberState, incarnation }
  return from === undefined ? base : { ...base, from }
}

function parseUpdates(v: unknown): MemberUpdate[] | null {
  if (!Array.isArray(v) || v.length > MAX_LIST) return null
  const out: MemberUpdate[] = []
  for (const item of v) {
    const u = parseUpdate(item)
    if (u === null) return null
    out.push(u)
  }
  return out
}

/** Validate a message from the wire; null when it is not one of ours (it is then ignored). */
export function parseSwimMessage(msg: unknown): SwimMsg | null {
  if (!isRecord(msg)) return null
  const gossip = parseUpdates(msg.gossip ?? [])
  switch (msg.kind) {
    case 'ping':
    case 'ping-req': {
      const claim = msg.claim === undefined ? undefined : parseUpdate(msg.claim)
      if (!isSeq(msg.seq) || !isId(msg.target) || gossip === null || claim === null) return null
      const base = { kind: msg.kind, seq: msg.seq, target: msg.target, gossip }
      return claim === undefined ? base : { ...base, claim }
    }
    case 'ack':
    case 'nack':
      if (!isSeq(msg.seq) || gossip === null) return null
      return { kind: msg.kind, seq: msg.seq, gossip }
    case 'gossip':
      return gossip === null ? null : { kind: 'gossip', gossip }
    case 'push-pull': {
      const members = parseUpdates(msg.members)
      if (members === null || typeof msg.reply !== 'boolean') return null
      return { kind: 'push-pull', reply: msg.reply, members }
    }
    default:
      return null
  }
}

/**
 * Updates waiting to be piggybacked, one per member (a newer update about a member replaces the older,
 * since it supersedes it). Each goes out `limit` times, fewest-sent first, so fresh news spreads first —
 * memberlist's TransmitLimitedQueue.
 */
export class GossipQueue {
  private readonly queue = new Map<NodeId, { update: MemberUpdate; sent: number; order: number }>()
  private order = 0

  enqueue(update: MemberUpdate): void {
    this.queue.set(update.id, { update, sent: 0, order: this.order++ })
  }

  /** Take up to `max` updates for one outgoing message, dropping those sent `limit` times. */
  take(max: number, limit: number): MemberUpdate[] {
    if (this.queue.size === 0 || max <= 0) return []
    const picked = [...this.queue.values()].sort((a, b) => a.sent - b.sent || b.order - a.order).slice(0, max)
    for (const entry of picked) {
      entry.sent++
      if (entry.sent >= limit) this.queue.delete(entry.update.id)
    }
    return picked.map((e) => e.update)
  }

  get size(): number {
    return this.queue.size
  }
}
