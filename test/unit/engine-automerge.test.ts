import { automergeEngine, automergeValueOf, changeAutomerge, spliceAutomergeText } from '../../shared/src/index.js'
import { runEngineAcceptance } from './engine-acceptance.js'

interface TextDoc {
  t: string
}

runEngineAcceptance(
  automergeEngine,
  {
    init: (doc) => {
      changeAutomerge<TextDoc>(doc, (d) => {
        d.t = ''
      })
    },
    insert: (doc, pos, s) => changeAutomerge(doc, (d) => spliceAutomergeText(d, ['t'], pos, 0, s)),
    delete: (doc, pos, length) => changeAutomerge(doc, (d) => spliceAutomergeText(d, ['t'], pos, length)),
    read: (doc) => automergeValueOf<Partial<TextDoc>>(doc).t ?? '',
  },
  { checksummed: true, bloomFilterSync: true },
)
