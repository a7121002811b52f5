import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Automerge, ErrorCode, automergeEngine, automergeValueOf, changeAutomerge, isMurmurError } from '@murmur/shared'
import { receivedState } from '../../shared/src/engine/automerge/sync-state.js'
import { runEngineAcceptance } from '@murmur/shared/testing'

// A type, not an interface: `Automerge.from` wants something assignable to a string-keyed record.
type TextDoc = { t: string }

runEngineAcceptance(
  automergeEngine,
  {
    init: (doc) => {
      changeAutomerge<TextDoc>(doc, (d) => {
        d.t = ''
      })
    },
    insert: (doc, pos, s) => changeAutomerge(doc, (d) => Automerge.splice(d, ['t'], pos, 0, s)),
    delete: (doc, pos, length) => changeAutomerge(doc, (d) => Automerge.splice(d, ['t'], pos, length)),
    read: (doc) => automergeValueOf<Partial<TextDoc>>(doc).t ?? '',
  },
  { checksummed: true, bloomFilterSync: true },
)

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 2 ** 31)

describe('Automerge engine', () => {
  it('refuses a well-formed change that reuses a sequence number, and stays usable', () => {
    const actor = 'aa'.repeat(16)
    const base = Automerge.save(Automerge.from<TextDoc>({ t: 'base' }, actor))
    const first = Automerge.change(Automerge.load<TextDoc>(base, actor), (d) => Automerge.splice(d, ['t'], 0, 0, 'x'))
    const forged = Automerge.change(Automerge.load<TextDoc>(base, actor), (d) => Automerge.splice(d, ['t'], 0, 0, 'y'))
    const server = automergeEngine.load(base, [])
    expect(server.applyUpdate(Automerge.getLastLocalChange(first)!).changed).toBe(true)
    const version = server.version()
    let code: unknown = null
    try {
      server.applyUpdate(Automerge.getLastLocalChange(forged)!)
    } catch (err) {
      code = isMurmurError(err) ? err.code : err
    }
    expect(code).toBe(ErrorCode.INVALID_UPDATE)
    expect(server.version()).toBe(version)
    const other = automergeEngine.load(server.encodeSnapshot(), [])
    changeAutomerge<TextDoc>(other, (d) => Automerge.splice(d, ['t'], 0, 0, 'z'))
    expect(server.applyUpdate(other.encodeSnapshot()).changed).toBe(true)
    expect(automergeValueOf<TextDoc>(server).t).toBe('zxbase')
  })
})

describe('Automerge sync state', () => {
  // The adapter moves the sync state itself instead of calling receiveSyncMessage (too slow on long
  // histories); in any exchange it must end up exactly where Automerge's own function puts it.
  it('moves on a received message exactly as receiveSyncMessage moves it', () => {
    type Doc = Automerge.Doc<TextDoc>
    type Step = { kind: 'edit'; peer: 0 | 1; at: number } | { kind: 'deliver'; to: 0 | 1 } | { kind: 'drop'; to: 0 | 1 }
    const peer = fc.constantFrom(0 as const, 1 as const)
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('edit' as const), peer, at: fc.nat() }),
      fc.record({ kind: fc.constant('deliver' as const), to: peer }),
      fc.record({ kind: fc.constant('drop' as const), to: peer }),
    )
    const details = fc.check(
      fc.property(fc.array(step, { maxLength: 40 }), fc.boolean(), (steps, secondStartsEmpty) => {
        const base = Automerge.change(Automerge.init<TextDoc>(), (d) => {
          d.t = 'base'
        })
        // A peer with nothing sends empty heads, which takes Automerge's "peer lost its data" branch.
        const docs: Doc[] = [Automerge.clone(base), secondStartsEmpty ? Automerge.init<TextDoc>() : Automerge.clone(base)]
        const states = [Automerge.initSyncState(), Automerge.initSyncState()]
        const inbox: Uint8Array[][] = [[], []]
        const send = (from: 0 | 1): void => {
          const [state, message] = Automerge.generateSyncMessage(docs[from], states[from])
          states[from] = state
          if (message !== null) inbox[1 - from].push(message)
        }
        send(0)
        send(1)
        for (const s of steps) {
          if (s.kind === 'edit') {
            docs[s.peer] = Automerge.change(docs[s.peer], (d) => {
              if (d.t === undefined) d.t = ''
              Automerge.splice(d, ['t'], s.at % (d.t.length + 1), 0, 'x')
            })
            send(s.peer)
          } else if (s.kind === 'drop') {
            inbox[s.to].shift()
          } else {
            const message = inbox[s.to].shift()
            if (message === undefined) continue
            const before = Automerge.getHeads(docs[s.to])
            const [doc, expected] = Automerge.receiveSyncMessage(docs[s.to], states[s.to], message)
            docs[s.to] = doc
            const mine = receivedState(doc, states[s.to], Automerge.decodeSyncMessage(message), before)
            expect(mine).toEqual(expected)
            states[s.to] = expected
            send(s.to)
          }
        }
      }),
      { seed: SEED, numRuns: 100, includeErrorInReport: true },
    )
    if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\nReplay with FC_SEED=${SEED}`)
  })
})
