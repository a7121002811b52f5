import { describe, expect, it, onTestFinished, vi } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { ErrorCode, MurmurError, decodeYSyncMessage, encodeYSyncMessage, YSyncMessage, yDocOf, yjsEngine, type DocId, type EngineDoc } from '@murmur/shared'
import { DocRegistry, LiveDoc, MemoryStorage, type DocSubscriber } from '../../server/dist/index.js'
import { within } from '../support/wait.js'

const quietLog = { warn: () => undefined, error: () => undefined, info: () => undefined, debug: () => undefined } as never

/** A Y.Doc with some text typed, deleted and retyped by two clients; its state as one update. */
function writtenState(): { state: Uint8Array; early: Uint8Array; text: string } {
  const a = new Y.Doc()
  const b = new Y.Doc()
  a.getText('t').insert(0, 'hello world')
  const early = Y.encodeStateAsUpdate(a)
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  b.getText('t').delete(0, 6)
  b.getText('t').insert(0, 'brave new ')
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
  return { state: Y.encodeStateAsUpdate(a), early, text: a.getText('t').toString() }
}

/** Run a whole SyncStep1/SyncStep2 exchange between `peer` (a Y.Doc) and the engine doc, both ways. */
function syncWith(doc: EngineDoc, peer: Y.Doc): void {
  const session = doc.createSyncSession()
  for (const message of session.start()) {
    const { payload } = decodeYSyncMessage(message)
    session.receive(encodeYSyncMessage(YSyncMessage.step2, Y.encodeStateAsUpdate(peer, payload)))
  }
  const { replies } = session.receive(encodeYSyncMessage(YSyncMessage.step1, Y.encodeStateVector(peer)))
  for (const reply of replies) Y.applyUpdate(peer, decodeYSyncMessage(reply).payload)
}

describe('Yjs engine: hibernating docs', () => {
  it('a doc loaded from one stored piece stays encoded while new and returning peers sync with it', () => {
    const { state, early, text } = writtenState()
    const doc = yjsEngine.load(state, [])
    expect(doc.hibernating).toBe(true)
    // A new peer gets the stored bytes as they are.
    const fresh = new Y.Doc()
    syncWith(doc, fresh)
    expect(fresh.getText('t').toString()).toBe(text)
    // A returning peer that lacks the last edits gets only those, from the encoded state.
    const returning = new Y.Doc()
    Y.applyUpdate(returning, early)
    let received = 0
    returning.on('update', (u: Uint8Array) => (received += u.length))
    syncWith(doc, returning)
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThan(state.length)
    expect(returning.getText('t').toString()).toBe(text)
    expect(doc.hibernating).toBe(true)
    expect(doc.encodeSnapshot()).toBe(state)
  })

  it('a write wakes the doc: the content is right, listeners hear the change, and it can hibernate again', () => {
    const { state, text } = writtenState()
    const doc = yjsEngine.load(state, [])
    const heard: Uint8Array[] = []
    doc.onUpdate((u) => heard.push(u))
    const writer = new Y.Doc()
    Y.applyUpdate(writer, state)
    const sv = Y.encodeStateVector(writer)
    writer.getText('t').insert(0, '> ')
    const applied = doc.applyUpdate(Y.encodeStateAsUpdate(writer, sv))
    expect(applied.changed).toBe(true)
    expect(doc.hibernating).toBe(false)
    expect(heard).toHaveLength(1)
    expect(yDocOf(doc).getText('t').toString()).toBe(`> ${text}`)
    const version = doc.version()
    expect(doc.hibernate?.()).toBe(true)
    expect(doc.hibernating).toBe(true)
    expect(doc.version()).toBe(version)
    // The encoded state decodes to the same doc.
    const copy = new Y.Doc()
    Y.applyUpdate(copy, doc.encodeSnapshot())
    expect(copy.getText('t').toString()).toBe(`> ${text}`)
  })

  it('a hibernating doc has the version the live doc had, and the same as the doc loaded live', () => {
    const { state } = writtenState()
    const encoded = yjsEngine.load(state, [])
    const live = yjsEngine.load(null, [state, new Uint8Array([0, 0])])
    expect(encoded.hibernating).toBe(true)
    expect(live.hibernating).toBe(false)
    expect(encoded.version()).toBe(live.version())
    // Reading the version does not wake it.
    expect(encoded.hibernating).toBe(true)
  })

  it('an empty SyncStep2 (a peer with nothing new) does not wake the doc; a read-only peer with news is refused', () => {
    const { state } = writtenState()
    const doc = yjsEngine.load(state, [])
    const session = doc.createSyncSession({ readOnly: true })
    const empty = Y.encodeStateAsUpdate(new Y.Doc())
    expect(session.receive(encodeYSyncMessage(YSyncMessage.step2, empty)).applied.persist).toBeNull()
    expect(session.peerStateMerged).toBe(true)
    expect(doc.hibernating).toBe(true)
    const other = new Y.Doc()
    other.getText('t').insert(0, 'news')
    expect(() => session.receive(encodeYSyncMessage(YSyncMessage.update, Y.encodeStateAsUpdate(other)))).toThrow(MurmurError)
  })

  it('does not hibernate while updates wait for missing dependencies', () => {
    const a = new Y.Doc()
    const updates: Uint8Array[] = []
    a.on('update', (u: Uint8Array) => updates.push(u))
    a.getText('t').insert(0, 'a')
    a.getText('t').insert(1, 'b')
    const doc = yjsEngine.create()
    doc.applyUpdate(updates[1])
    expect(doc.hibernate?.()).toBe(false)
    expect(doc.hibernating).toBe(false)
    doc.applyUpdate(updates[0])
    expect(doc.hibernate?.()).toBe(true)
    expect(yDocOf(doc).getText('t').toString()).toBe('ab')
  })

  it('a stored snapshot carries the state vector; a plain update stored as a snapshot loads as before', () => {
    const { state, text } = writtenState()
    const live = yjsEngine.load(null, [state, new Uint8Array([0, 0])])
    const stored = live.encodeForStorage!()
    expect(stored).not.toEqual(state)
    const loaded = yjsEngine.load(stored, [])
    expect(loaded.hibernating).toBe(true)
    expect(loaded.encodeSnapshot()).toEqual(live.encodeSnapshot())
    expect(loaded.version()).toBe(live.version())
    // With log entries after it, it is decoded with them.
    const writer = new Y.Doc()
    Y.applyUpdate(writer, state)
    const sv = Y.encodeStateVector(writer)
    writer.getText('t').insert(0, '! ')
    const withLog = yjsEngine.load(stored, [Y.encodeStateAsUpdate(writer, sv)])
    expect(withLog.toJSON()).toEqual({ t: `! ${text}` })
    // A snapshot stored as a plain update (before the header existed) still loads.
    expect(yjsEngine.load(state, []).toJSON()).toEqual({ t: text })
    // A cut header is a load failure.
    expect(() => yjsEngine.load(stored.subarray(0, 10), [])).toThrow(expect.objectContaining({ code: ErrorCode.LOAD_FAILED }))
  })

  it('corrupt stored bytes fail the load with LOAD_FAILED, not later', () => {
    const { state } = writtenState()
    const cut = state.slice(0, Math.floor(state.length / 2))
    expect(() => yjsEngine.load(cut, [])).toThrow(expect.objectContaining({ code: ErrorCode.LOAD_FAILED }))
  })

  it('property: hibernating at any point between random edits changes nothing another replica can see', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), text: fc.string({ minLength: 1, maxLength: 4 }) }),
            fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 3 }) }),
            fc.record({ kind: fc.constant('hibernate' as const) }),
            fc.record({ kind: fc.constant('peer' as const) }),
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const writer = new Y.Doc()
          const pending: Uint8Array[] = []
          writer.on('update', (u: Uint8Array) => pending.push(u))
          const doc = yjsEngine.create()
          const reference = new Y.Doc()
          const peers: Y.Doc[] = []
          for (const op of ops) {
            const t = writer.getText('t')
            if (op.kind === 'insert') t.insert(op.pos % (t.length + 1), op.text)
            else if (op.kind === 'delete' && t.length > 0) t.delete(op.pos % t.length, Math.min(op.len, t.length - (op.pos % t.length)))
            else if (op.kind === 'hibernate') doc.hibernate?.()
            else if (op.kind === 'peer') {
              const peer = new Y.Doc()
              syncWith(doc, peer)
              peers.push(peer)
            }
            for (const u of pending.splice(0)) {
              doc.applyUpdate(u)
              Y.applyUpdate(reference, u)
            }
          }
          const expected = reference.getText('t').toString()
          const late = new Y.Doc()
          syncWith(doc, late)
          expect(late.getText('t').toString()).toBe(expected)
          for (const peer of peers) {
            syncWith(doc, peer)
            expect(peer.getText('t').toString()).toBe(expected)
          }
          const loaded = yjsEngine.load(Y.encodeStateAsUpdate(reference), [])
          expect(doc.version()).toBe(loaded.version())
          // The state vector read off the stored bytes is the one the doc has.
          const [step1] = loaded.createSyncSession().start()
          expect(Y.decodeStateVector(decodeYSyncMessage(step1).payload)).toEqual(Y.decodeStateVector(Y.encodeStateVector(reference)))
        },
      ),
      { numRuns: 200, seed: 7 },
    )
  })
})

describe('LiveDoc: hibernation after writes stop', () => {
  const origin: DocSubscriber = { deliverUpdate() {}, deliverAwareness() {}, fail() {} }

  function setup(hibernateAfterMs: number) {
    const storage = new MemoryStorage()
    const key = { engine: 'yjs' as const, docId: 'quiet' as DocId }
    const live = new LiveDoc(key, yjsEngine.create(), storage, { compactEveryUpdates: 1000, compactEveryBytes: 1 << 30, maxDocBytes: 1 << 30, hibernateAfterMs }, quietLog, { lastSeq: 0, updates: 0, updateBytes: 0 })
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const type = async (s: string): Promise<void> => {
      writer.getText('t').insert(writer.getText('t').length, s)
      await live.apply(updates.shift()!, { from: origin })
    }
    // Count hibernations, and let a test wait for the next one.
    const counted = { hibernations: 0, next: null as (() => void) | null }
    const hibernate = live.doc.hibernate!.bind(live.doc)
    Object.assign(live.doc, {
      hibernate: (encoded?: Uint8Array) => {
        const done = hibernate(encoded)
        if (done) {
          counted.hibernations++
          counted.next?.()
        }
        return done
      },
    })
    const hibernated = (): Promise<void> =>
      within(
        new Promise<void>((resolve) => (counted.next = resolve)),
        5_000,
        'the doc to hibernate',
      )
    return { storage, key, live, writer, type, counted, hibernated }
  }

  it('compacts and hibernates a doc nobody writes to, and a write wakes it with nothing lost', async () => {
    const { storage, key, live, writer, type, hibernated } = setup(30)
    // The snapshot is written once the doc is asleep.
    const compact = storage.compact.bind(storage)
    const compacted = new Promise<void>((resolve) => {
      storage.compact = async (...args) => {
        await compact(...args)
        resolve()
      }
    })
    const first = hibernated()
    for (const c of 'abcdef') await type(c)
    await first
    expect(live.doc.hibernating).toBe(true)
    await within(compacted, 5_000, 'the compaction behind the hibernation')
    // The log was folded into the snapshot it now holds.
    const stored = await storage.load(key)
    expect(stored?.updates).toHaveLength(0)
    // Stored with its state vector: loading it again needs no decode.
    const reloaded = yjsEngine.load(stored!.snapshot, [])
    expect(reloaded.hibernating).toBe(true)
    expect(reloaded.encodeSnapshot()).toEqual(live.doc.encodeSnapshot())
    expect(reloaded.createSyncSession().start()).toEqual(live.doc.createSyncSession().start())
    await type('g')
    expect(live.doc.hibernating).toBe(false)
    expect(live.doc.toJSON()).toEqual({ t: writer.getText('t').toString() })
    await hibernated()
    expect(yjsEngine.load(live.doc.encodeSnapshot(), []).toJSON()).toEqual({ t: 'abcdefg' })
    live.destroy()
  })

  it('does not hibernate with 0, and a doc written to keeps being live until it is quiet', async () => {
    const never = setup(0)
    await never.type('x')
    expect(never.live.doc.hibernating).toBe(false)
    never.live.destroy()

    // On a fake clock: writes every 20 ms for 400 ms never leave 200 ms of quiet; then 200 ms do.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'Date'] })
    onTestFinished(() => {
      vi.useRealTimers()
    })
    const { live, type, counted } = setup(200)
    for (let t = 0; t < 400; t += 20) {
      await Promise.all([type('x'), vi.advanceTimersByTimeAsync(20)])
    }
    expect(counted.hibernations).toBe(0)
    expect(live.doc.hibernating).toBe(false)
    await vi.advanceTimersByTimeAsync(250)
    expect(counted.hibernations).toBe(1)
    expect(live.doc.hibernating).toBe(true)
    live.destroy()
  })
})

describe('DocRegistry: a clean shutdown', () => {
  it('folds a long log into one stored piece, which the next start loads without a decode; a short one is left', async () => {
    const storage = new MemoryStorage()
    const options = { compactEveryUpdates: 1000, compactEveryBytes: 1 << 30, maxDocBytes: 1 << 30, idleUnloadMs: 60_000, hibernateAfterMs: 0 }
    const registry = new DocRegistry(storage, options, quietLog)
    const key = { engine: 'yjs' as const, docId: 'shutdown' as DocId }
    const sub: DocSubscriber = { deliverUpdate() {}, deliverAwareness() {}, fail() {} }
    const doc = await registry.acquire(key, sub)
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const text = 'shutdown'.repeat(13)
    for (const c of text) writer.getText('t').insert(writer.getText('t').length, c)
    for (const u of updates) await doc.apply(u, { from: sub })
    const shortKey = { engine: 'yjs' as const, docId: 'short' as DocId }
    const short = await registry.acquire(shortKey, sub)
    await short.apply(updates[0], { from: sub })
    expect((await storage.load(key))?.updates).toHaveLength(104)
    await registry.close()
    const stored = await storage.load(key)
    expect(stored?.updates).toHaveLength(0)
    expect((await storage.load(shortKey))?.updates).toHaveLength(1)
    const next = new DocRegistry(storage, options, quietLog)
    const reloaded = await next.get(key)
    expect(reloaded.doc.hibernating).toBe(true)
    expect(reloaded.doc.toJSON()).toEqual({ t: text })
    await next.close()
  })
})
