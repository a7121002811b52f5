import { describe, it } from 'vitest'
import { runChaos } from '../support/chaos.js'

describe('chaos with Automerge docs mixed in: kill -9 and cut links while clients write through every node', () => {
  it('every acknowledged element ends on every replica, and replicas hold equal versions', async () => {
    // Automerge and Yjs docs side by side, written at the same time through the same sockets.
    // Anti-entropy repairs an Automerge doc with a snapshot push as well as a sync session: the stateful
    // sync alone once took up to minutes to deliver a change a lost message had carried.
    await runChaos(
      [
        { engine: 'automerge', id: 'am-ledger-1' },
        { engine: 'yjs', id: 'y-ledger-1' },
        { engine: 'automerge', id: 'am-ledger-2' },
      ],
      60_000,
    )
  }, 600_000)
})
