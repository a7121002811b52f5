/**
 * Murmur reads and rebuilds Automerge's private sync state (shared/src/engine/automerge/sync-state.ts).
 * These fail when an Automerge upgrade changes that state, rather than letting sync go subtly wrong.
 */
import { describe, expect, it } from 'vitest'
import { Automerge, automergeEngine, changeAutomerge } from '../../shared/src/index.js'
import { syncStateFields } from '../../shared/src/engine/automerge/sync-state.js'

/** The fields of a sync state as the installed Automerge makes them, at each step of a real sync. */
function statesOfASync(): Automerge.SyncState[] {
  let a = Automerge.from<{ t: string }>({ t: 'hello' })
  let b = Automerge.init<{ t: string }>()
  let sa = Automerge.initSyncState()
  let sb = Automerge.initSyncState()
  const states = [sa, sb]
  for (let round = 0; round < 6; round++) {
    let m: Uint8Array | null
    ;[sa, m] = Automerge.generateSyncMessage(a, sa)
    states.push(sa)
    if (m !== null) [b, sb] = Automerge.receiveSyncMessage(b, sb, m)
    states.push(sb)
    ;[sb, m] = Automerge.generateSyncMessage(b, sb)
    states.push(sb)
    if (m !== null) [a, sa] = Automerge.receiveSyncMessage(a, sa, m)
    states.push(sa)
  }
  expect(b.t).toBe('hello')
  // Exported and imported again, as a state persisted across restarts would be.
  states.push(Automerge.decodeSyncState(Automerge.encodeSyncState(sa)))
  return states
}

describe("Automerge's private sync state", () => {
  it('has exactly the fields Murmur reads, with the types it reads them as, at every step of a sync', () => {
    for (const state of statesOfASync()) {
      const fields = syncStateFields(state)
      expect(Object.keys(fields).filter((k) => k !== 'theirCapabilities').sort()).toEqual(
        ['haveResponded', 'inFlight', 'lastSentHeads', 'sentHashes', 'sharedHeads', 'theirHave', 'theirHeads', 'theirNeed'].sort(),
      )
    }
    // A state that sent changes lists them in sentHashes as hash → true.
    const sent = statesOfASync().find((s) => Object.keys(syncStateFields(s).sentHashes).length > 0)
    expect(sent).toBeDefined()
    for (const value of Object.values(syncStateFields(sent!).sentHashes)) expect(value).toBe(true)
  })

  it('refuses, with a clear error, a state shaped otherwise (a field renamed, a list turned into a Set)', () => {
    const real = syncStateFields(Automerge.initSyncState()) as unknown as Record<string, unknown>
    const changed = [
      { ...real, sentHashes: [] },
      { ...real, sentHashes: new Set() },
      (({ theirNeed, ...rest }) => ({ ...rest, theirHeed: theirNeed }))(real),
      { ...real, sharedHeads: undefined },
      { ...real, inFlight: 0 },
      // What Automerge 3.x adds.
      { ...real, readOnly: false, peerReadOnly: false },
    ]
    for (const state of changed) {
      expect(() => syncStateFields(state as unknown as Automerge.SyncState)).toThrow(/keeps its sync state differently from 2\.2\.9.*must be updated/)
    }
  })

  it('is checked by the engine: a session syncs two docs through it', () => {
    const a = automergeEngine.create()
    changeAutomerge(a, (d) => {
      d.x = 1
    })
    const b = automergeEngine.create()
    const sa = a.createSyncSession()
    const sb = b.createSyncSession()
    let toB = sa.start()
    for (let i = 0; i < 10 && toB.length > 0; i++) {
      const toA = toB.flatMap((m) => sb.receive(m).replies)
      toB = toA.flatMap((m) => sa.receive(m).replies)
    }
    expect(b.toJSON()).toEqual({ x: 1 })
  })
})
