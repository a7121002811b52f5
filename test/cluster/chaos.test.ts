import { describe, it } from 'vitest'
import { runChaos } from '../support/chaos.js'

describe('chaos: kill -9 and cut links while clients write through every node', () => {
  it('every acknowledged update ends on every replica, and replicas hold equal versions', async () => {
    await runChaos([
      { engine: 'yjs', id: 'ledger-1' },
      { engine: 'yjs', id: 'ledger-2' },
      { engine: 'yjs', id: 'ledger-3' },
    ])
  }, 240_000)
})
