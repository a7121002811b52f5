/**
 * The acceptance suite every `Engine` adapter runs: a new engine is done when this passes. Exported as
 * `@murmur/shared/testing` (it needs vitest and fast-check, which only that entry point imports).
 *
 * Properties run with fast-check under one seed per process. A failure prints it; `FC_SEED=<n>` replays.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ErrorCode, isMurmurError, type Engine, type EngineDoc, type SyncSession } from '../core.js'

/** How the suite edits and reads one plain text inside a doc, through the engine's own API. */
export interface TextEditing {
  /** A local change that creates the empty text; every replica in a test starts from a doc it ran on. */
  init(doc: EngineDoc): void
  insert(doc: EngineDoc, pos: number, text: string): void
  delete(doc: EngineDoc, pos: number, length: number): void
  read(doc: EngineDoc): string
}

export interface EngineAcceptanceOptions {
  /**
   * Updates carry checksums, so every single bit flip must be rejected. Without them (Yjs) a flip inside
   * content decodes as a different, valid update, so a flipped update only has to be rejected cleanly or
   * accepted.
   */
  readonly checksummed: boolean
  /**
   * The sync protocol tells a peer what we have with a Bloom filter (Automerge), so one round can leave out
   * a change that a false positive hid; later rounds fetch it. A read-only session refuses the peer's
   * next message when it carries changes, so its answer to the state request may then be incomplete.
   */
  readonly bloomFilterSync: boolean
}

/** `FC_SEED` from the environment, where there is one (the shared package also builds for browsers). */
const FC_SEED = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.FC_SEED
const SEED = FC_SEED !== undefined ? Number(FC_SEED) : Math.floor(Math.random() * 2 ** 31)

function check<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(property, { seed: SEED, numRuns, includeErrorInReport: true })
  if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\nReplay with FC_SEED=${SEED}`)
}

/** A small seeded generator for delivery orders that depend on how many updates a run produced. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) % n) | 0
  }
}

/** Every item in a random order, plus random duplicates. */
function deliveryOrder<T>(items: readonly T[], random: (n: number) => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = random(i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  const dups = items.length === 0 ? 0 : random(items.length + 1)
  for (let i = 0; i < dups; i++) out.splice(random(out.length + 1), 0, items[random(items.length)])
  return out
}

type Edit = { kind: 'insert'; at: number; text: string } | { kind: 'delete'; at: number; length: number }

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
)
const editsArb = fc.array(editArb, { maxLength: 6 })

function expectCode(fn: () => unknown, code: ErrorCode): void {
  let thrown: unknown = null
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(isMurmurError(thrown) ? thrown.code : thrown).toBe(code)
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  out[Math.floor(bit / 8) % out.length] ^= 1 << bit % 8
  return out
}

export function runEngineAcceptance(engine: Engine, text: TextEditing, options: EngineAcceptanceOptions): void {
  const baseDoc = engine.create()
  text.init(baseDoc)
  const base = baseDoc.encodeSnapshot()
  baseDoc.destroy()

  const replica = (): EngineDoc => engine.load(base, [])

  /** Apply one edit locally (positions taken modulo the current length); returns the updates it emitted. */
  function edit(doc: EngineDoc, e: Edit): Uint8Array[] {
    const updates: Uint8Array[] = []
    const off = doc.onUpdate((u) => updates.push(u))
    const length = text.read(doc).length
    if (e.kind === 'insert') text.insert(doc, e.at % (length + 1), e.text)
    else if (length > 0) {
      const pos = e.at % length
      text.delete(doc, pos, Math.min(e.length, length - pos))
    }
    off()
    return updates
  }

  function expectSameState(docs: readonly EngineDoc[]): void {
    for (const doc of docs.slice(1)) {
      expect(text.read(doc)).toBe(text.read(docs[0]))
      expect(doc.toJSON()).toEqual(docs[0].toJSON())
      expect(doc.version()).toBe(docs[0].version())
    }
  }

  /** Two docs joined by a pair of sync sessions; messages queue per direction, in order. */
  interface Link {
    readonly a: EngineDoc
    readonly b: EngineDoc
    readonly sa: SyncSession
    readonly sb: SyncSession
    readonly toA: Uint8Array[]
    readonly toB: Uint8Array[]
    close(): void
  }

  function connect(a: EngineDoc, b: EngineDoc, readOnlyA = false): Link {
    const sa = a.createSyncSession({ readOnly: readOnlyA })
    const sb = b.createSyncSession()
    const toA: Uint8Array[] = []
    const toB: Uint8Array[] = []
    // A change a session applied itself is not sent back to the peer it came from.
    const offA = a.onUpdate((u, origin) => origin !== sa && toB.push(...sa.onDocUpdate(u)))
    const offB = b.onUpdate((u, origin) => origin !== sb && toA.push(...sb.onDocUpdate(u)))
    toB.push(...sa.start())
    toA.push(...sb.start())
    return { a, b, sa, sb, toA, toB, close: () => (offA(), offB()) }
  }

  function deliver(link: Link, to: 'a' | 'b'): void {
    const [queue, session, back] = to === 'a' ? [link.toA, link.sa, link.toB] : [link.toB, link.sb, link.toA]
    const message = queue.shift()
    if (message === undefined) return
    back.push(...session.receive(message, session).replies)
  }

  function drain(link: Link, random: (n: number) => number): void {
    for (let delivered = 0; link.toA.length + link.toB.length > 0; delivered++) {
      if (delivered > 10_000) throw new Error('sync did not settle')
      const to = link.toA.length === 0 ? 'b' : link.toB.length === 0 ? 'a' : random(2) === 0 ? 'a' : 'b'
      deliver(link, to)
    }
  }

  type Step = { step: 'deliver'; to: 'a' | 'b' } | { step: 'edit'; on: 'a' | 'b'; edit: Edit }
  const side = fc.constantFrom('a' as const, 'b' as const)
  const stepsArb: fc.Arbitrary<Step[]> = fc.array(
    fc.oneof(
      fc.record({ step: fc.constant('deliver' as const), to: side }),
      fc.record({ step: fc.constant('edit' as const), on: side, edit: editArb }),
    ),
    { maxLength: 16 },
  )

  function run(link: Link, steps: readonly Step[]): void {
    for (const s of steps) {
      if (s.step === 'deliver') deliver(link, s.to)
      else edit(s.on === 'a' ? link.a : link.b, s.edit)
    }
  }

  describe(`engine acceptance: ${engine.name}`, () => {
    it('replicas converge whatever the order and duplication of updates; versions follow state', () => {
      const arb = fc.tuple(fc.array(editsArb, { minLength: 2, maxLength: 4 }), fc.noBias(fc.integer()))
      check(
        fc.property(arb, ([editsPerReplica, seed]) => {
          const random = prng(seed)
          const docs = editsPerReplica.map(replica)
          const emitted: Uint8Array[] = []
          docs[0].onUpdate((u) => emitted.push(u))
          const own = docs.map((doc, i) => editsPerReplica[i].flatMap((e) => edit(doc, e)))
          const updates = own.flat()
          // What each replica would store: its own updates, then what applyUpdate says to persist.
          const logs = own.map((updatesOfOne) => [...updatesOfOne])
          const orders = docs.map(() => deliveryOrder(updates, random))
          const half = (i: number): number => Math.floor(orders[i].length / 2)
          docs.forEach((doc, i) => orders[i].slice(0, half(i)).forEach((u) => logPersist(doc, u, logs[i])))
          // Mid-way: different texts must mean different versions.
          for (const x of docs) for (const y of docs) if (text.read(x) !== text.read(y)) expect(x.version()).not.toBe(y.version())
          // A snapshot taken with updates still waiting for dependencies keeps them.
          const reloaded = engine.load(docs[1].encodeSnapshot(), [])
          expect(reloaded.version()).toBe(docs[1].version())
          docs[1] = reloaded
          docs.forEach((doc, i) => orders[i].slice(half(i)).forEach((u) => logPersist(doc, u, logs[i])))
          const reference = engine.load(base, updates)
          expectSameState([reference, ...docs])
          const last = docs[docs.length - 1]
          for (const u of updates) expect(last.applyUpdate(u)).toEqual({ changed: false, persist: null })
          // Persisted bytes are enough to reload; emitted bytes are enough to follow the doc.
          expectSameState([reference, ...logs.map((log) => engine.load(base, log))])
          expectSameState([docs[0], engine.load(base, emitted)])
        }),
        60,
      )
    })

    it('two replicas syncing through sessions converge, with edits made mid-sync', () => {
      check(
        fc.property(editsArb, editsArb, stepsArb, fc.noBias(fc.integer()), (editsA, editsB, steps, seed) => {
          const [a, b] = [replica(), replica()]
          editsA.forEach((e) => edit(a, e))
          editsB.forEach((e) => edit(b, e))
          const link = connect(a, b)
          expect(link.sa.peerStateMerged || link.sb.peerStateMerged).toBe(false)
          run(link, steps)
          drain(link, prng(seed))
          expectSameState([a, b])
          expect(link.sa.peerStateMerged).toBe(true)
          expect(link.sb.peerStateMerged).toBe(true)
        }),
        60,
      )
    })

    it('new sessions after a reconnect converge, whatever was in flight when the link dropped', () => {
      const arb = fc.tuple(stepsArb, editsArb, editsArb, fc.noBias(fc.integer()))
      check(
        fc.property(arb, ([steps, offlineA, offlineB, seed]) => {
          const [a, b] = [replica(), replica()]
          const first = connect(a, b)
          run(first, steps)
          first.close() // messages still queued are lost with the link
          offlineA.forEach((e) => edit(a, e))
          offlineB.forEach((e) => edit(b, e))
          const second = connect(a, b)
          drain(second, prng(seed))
          expectSameState([a, b])
          expect(second.sa.peerStateMerged && second.sb.peerStateMerged).toBe(true)
        }),
        60,
      )
    })

    it('version changes on every edit, deletes included, and never comes back to an earlier value', () => {
      check(
        fc.property(editsArb, (edits) => {
          const doc = replica()
          const mirror = replica()
          const seen = new Set([doc.version()])
          for (const e of [{ kind: 'insert', at: 0, text: 'seed' } as const, ...edits]) {
            const before = text.read(doc)
            const updates = edit(doc, e)
            if (text.read(doc) === before) continue // a delete on an empty text is no edit
            expect(seen.has(doc.version())).toBe(false)
            seen.add(doc.version())
            // The same holds where the edit arrives as an update.
            const mirrorBefore = mirror.version()
            updates.forEach((u) => mirror.applyUpdate(u))
            expect(mirror.version()).not.toBe(mirrorBefore)
            expect(mirror.version()).toBe(doc.version())
          }
        }),
        60,
      )
    })

    it('a delete-only edit changes the version', () => {
      const doc = replica()
      text.insert(doc, 0, 'abc')
      const other = engine.load(doc.encodeSnapshot(), [])
      const before = doc.version()
      expect(other.version()).toBe(before)
      const updates = edit(doc, { kind: 'delete', at: 1, length: 1 })
      expect(text.read(doc)).toBe('ac')
      expect(doc.version()).not.toBe(before)
      updates.forEach((u) => other.applyUpdate(u))
      expect(other.version()).toBe(doc.version())
    })

    it('load(snapshot, updates) reproduces the doc, and encodeSnapshot round-trips', () => {
      check(
        fc.property(editsArb, fc.nat(), (edits, cut) => {
          const doc = replica()
          const updates: Uint8Array[] = []
          const snapshots = [base]
          for (const e of edits) {
            updates.push(...edit(doc, e))
            snapshots.push(doc.encodeSnapshot())
          }
          const k = cut % snapshots.length
          // Snapshot k holds the first k edits' updates; which updates those are depends on the engine,
          // so every update is replayed on top of it (duplicates are no-ops).
          expectSameState([doc, engine.load(snapshots[k], updates), engine.load(base, updates)])
          expectSameState([doc, engine.load(doc.encodeSnapshot(), [])])
        }),
        60,
      )
    })

    it('load throws on corrupt bytes', () => {
      const doc = replica()
      text.insert(doc, 0, 'hello world')
      text.delete(doc, 2, 3)
      const snapshot = doc.encodeSnapshot()
      for (let length = 0; length < snapshot.length; length++) {
        expectCode(() => engine.load(snapshot.subarray(0, length), []), ErrorCode.LOAD_FAILED)
      }
      expectCode(() => engine.load(snapshot, [new TextEncoder().encode('not an update')]), ErrorCode.LOAD_FAILED)
      if (options.checksummed) {
        for (let bit = 0; bit < snapshot.length * 8; bit += 7) {
          expectCode(() => engine.load(flipBit(snapshot, bit), []), ErrorCode.LOAD_FAILED)
        }
      }
    })

    /**
     * Apply bytes that may be garbage. applyUpdate only takes what validateUpdate accepts; what it rejects
     * it rejects with INVALID_UPDATE, leaving the doc as it was. Returns whether the bytes were taken.
     */
    function applyMaybeGarbage(doc: EngineDoc, bytes: Uint8Array): boolean {
      const version = doc.version()
      const content = text.read(doc)
      let valid = true
      try {
        engine.validateUpdate(bytes)
      } catch (err) {
        expect(isMurmurError(err) && err.code).toBe(ErrorCode.INVALID_UPDATE)
        valid = false
      }
      try {
        doc.applyUpdate(bytes)
        expect(valid).toBe(true)
        return true
      } catch (err) {
        // Well-formed bytes may still contradict the doc; either way nothing may have changed.
        expect(isMurmurError(err) && err.code).toBe(ErrorCode.INVALID_UPDATE)
        expect(doc.version()).toBe(version)
        expect(text.read(doc)).toBe(content)
        return false
      }
    }

    /** The doc still takes a genuine edit, and tells its listeners, after whatever came before. */
    function expectUsable(doc: EngineDoc): void {
      const source = engine.load(doc.encodeSnapshot(), [])
      const update = edit(source, { kind: 'insert', at: 0, text: 'ok' })
      const emitted: Uint8Array[] = []
      const off = doc.onUpdate((u) => emitted.push(u))
      update.forEach((u) => expect(doc.applyUpdate(u).changed).toBe(true))
      off()
      expect(emitted.length).toBeGreaterThan(0)
      expectSameState([source, doc])
    }

    it('applyUpdate rejects garbage with INVALID_UPDATE and leaves the doc as it was', () => {
      const doc = replica()
      text.insert(doc, 0, 'some text')
      text.delete(doc, 0, 2)
      for (const garbage of [new Uint8Array(0), new TextEncoder().encode('not an update'), new Uint8Array(40).fill(0xff)]) {
        expect(applyMaybeGarbage(doc, garbage)).toBe(false)
      }
      // The doc at hand is kept; were it re-created each run, damage done by one run would go unseen.
      let rejected = 0
      const runs = 300
      check(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          if (!applyMaybeGarbage(doc, bytes)) rejected++
        }),
        runs,
      )
      // Short random bytes can happen to be a valid empty update; most must not pass.
      expect(rejected).toBeGreaterThan(runs * 0.8)
      expectUsable(doc)
    })

    it('applyUpdate rejects every truncation of a valid update, and bit flips cleanly', () => {
      check(
        fc.property(fc.string({ minLength: 1, maxLength: 8 }), fc.nat(), fc.nat(), (inserted, at, bit) => {
          const source = replica()
          text.insert(source, 0, 'hello')
          const target = engine.load(source.encodeSnapshot(), [])
          const edits = edit(source, { kind: 'insert', at, text: inserted })
          edits.push(...edit(source, { kind: 'delete', at, length: 2 }))
          for (const update of edits) {
            for (let length = 0; length < update.length; length++) {
              expect(applyMaybeGarbage(target, update.subarray(0, length))).toBe(false)
            }
            const copy = engine.load(target.encodeSnapshot(), [])
            const accepted = applyMaybeGarbage(copy, flipBit(update, bit))
            if (options.checksummed) expect(accepted).toBe(false)
            if (!accepted) expectUsable(copy)
            expect(target.applyUpdate(update).changed).toBe(true)
          }
          expectSameState([source, target])
          expectUsable(target)
        }),
        40,
      )
    })

    it('a read-only session answers the state request but refuses changes with FORBIDDEN', () => {
      check(
        fc.property(editsArb, editsArb, fc.noBias(fc.integer()), (serverEdits, viewerEdits, seed) => {
          const server = replica()
          text.insert(server, 0, 'shared text')
          text.delete(server, 0, 3)
          serverEdits.forEach((e) => edit(server, e))
          // A viewer that holds the same state (deletes included) syncs without a refusal.
          const viewer = engine.load(server.encodeSnapshot(), [])
          const quiet = connect(server, viewer, true)
          drain(quiet, prng(seed))
          expect(quiet.sa.peerStateMerged && quiet.sb.peerStateMerged).toBe(true)
          quiet.close()
          // A viewer with edits of its own gets the server's state; its changes are refused.
          const editor = replica()
          edit(editor, { kind: 'insert', at: 0, text: 'mine' })
          viewerEdits.forEach((e) => edit(editor, e))
          const version = server.version()
          const link = connect(server, editor, true)
          const random = prng(~seed)
          // The editor's opening messages are its state request; the server answers them.
          const [request, ...rest] = link.toA.splice(0)
          const answer = link.sa.receive(request, link.sa).replies
          expect(answer.length).toBeGreaterThan(0)
          link.toB.push(...answer)
          link.toA.push(...rest)
          let refused = false
          while (!refused && link.toA.length + link.toB.length > 0) {
            if (link.toA.length === 0 || (link.toB.length > 0 && random(2) === 0)) deliver(link, 'b')
            else {
              try {
                deliver(link, 'a')
              } catch (err) {
                expect(isMurmurError(err) && err.code).toBe(ErrorCode.FORBIDDEN)
                refused = true
              }
            }
          }
          expect(refused).toBe(true)
          // The server closes the link; what it sent before that still arrives, and nothing goes back.
          link.toA.length = 0
          while (link.toB.length > 0) deliver(link, 'b')
          expect(server.version()).toBe(version)
          if (!options.bloomFilterSync) expect(editor.applyUpdate(server.encodeSnapshot()).changed).toBe(false)
        }),
        40,
      )
    })

    it('mergeUpdates is equivalent to applying every update', () => {
      const arb = fc.tuple(fc.array(editsArb, { minLength: 1, maxLength: 3 }), fc.noBias(fc.integer()))
      check(
        fc.property(arb, ([editsPerReplica, seed]) => {
          const docs = editsPerReplica.map(replica)
          const updates = docs.flatMap((doc, i) => editsPerReplica[i].flatMap((e) => edit(doc, e)))
          const order = deliveryOrder(updates, prng(seed))
          const merged = engine.mergeUpdates(order)
          engine.validateUpdate(merged)
          const viaMerge = replica()
          viaMerge.applyUpdate(merged)
          const split = Math.floor(order.length / 2)
          const inTwo = engine.load(base, [engine.mergeUpdates(order.slice(0, split)), engine.mergeUpdates(order.slice(split))])
          expectSameState([engine.load(base, updates), viaMerge, engine.load(base, [merged]), inTwo])
          const version = viaMerge.version()
          viaMerge.applyUpdate(engine.mergeUpdates([]))
          expect(viaMerge.version()).toBe(version)
        }),
        60,
      )
    })
  })

  function logPersist(doc: EngineDoc, update: Uint8Array, log: Uint8Array[]): void {
    const { persist } = doc.applyUpdate(update, 'remote')
    if (persist !== null) log.push(persist)
  }
}
