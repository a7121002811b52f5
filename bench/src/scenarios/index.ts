import type { Scenario } from '../lib/scenario.js'
import { fanout } from './fanout.js'
import { ingest } from './ingest.js'
import { idle } from './idle.js'
import { coldload } from './coldload.js'
import { reconnect } from './reconnect.js'
import { antientropy } from './antientropy.js'
import { automerge } from './automerge.js'
import { bundle } from './bundle.js'
import { edges } from './edges.js'
import { versions } from './versions.js'

/** Every scenario, in the order a full run takes them. One file per scenario in this folder. */
export async function loadScenarios(): Promise<Scenario[]> {
  return [fanout, ingest, idle, coldload, reconnect, antientropy, automerge, bundle, edges, versions]
}
