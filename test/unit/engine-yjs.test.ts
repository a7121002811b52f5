import { yDocOf, yjsEngine } from '@murmur/shared'
import { runEngineAcceptance } from '@murmur/shared/testing'

const text = (doc: Parameters<typeof yDocOf>[0]) => yDocOf(doc).getText('t')

runEngineAcceptance(
  yjsEngine,
  {
    init: () => {},
    insert: (doc, pos, s) => text(doc).insert(pos, s),
    delete: (doc, pos, length) => text(doc).delete(pos, length),
    read: (doc) => text(doc).toString(),
  },
  { checksummed: false, bloomFilterSync: false },
)
