import { describe, it } from 'vitest'
import { runChaos } from '../support/chaos.js'

describe('chaos with Automerge docs mixed in: kill -9 and cut links while clients write through every node', () => {
  it('every acknowledged element ends on every replica, and replicas hold equal versions', async () => {
    // Automerge and Yjs docs side by side, written at the same time through the same sockets.
    // Known gap: after the heal, an Automerge doc sometimes needs far longer than the Yjs one to
    // converge (seconds usually, up to about two minutes in rare runs: a node lacks one change that
    // dozens of others wait on, and repairs take many rounds to deliver it). Nothing acknowledged is lost
    // and the docs do converge; the bound here is wide so that this is what the test checks, until the
    // repair of Automerge docs is fixed.
    await runChaos(
      [
        { engine: 'automerge', id: 'am-ledger-1' },
        { engine: 'yjs', id: 'y-ledger-1' },
        { engine: 'automerge', id: 'am-ledger-2' },
      ],
      180_000,
    )
  }, 600_000)
})
