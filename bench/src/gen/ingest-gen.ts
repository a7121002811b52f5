import * as Y from 'yjs'
import { Wire, systemById } from '../lib/systems.js'
import { withTimeout } from '../lib/timing.js'
import { openWire, type WireClient } from '../lib/wire.js'
import { sendToBench, type ToGenerator } from '../lib/generators.js'

/**
 * Ingest readers in a generator process: protocol-level clients that count what the server broadcasts
 * and report their progress to the bench every few milliseconds. Where the server merges the updates of
 * a moment into one message (Hocuspocus 4), progress is the writer's clock a reader reached.
 */

const REPORT_EVERY_MS = 2

let readers: WireClient[] = []
let clocks: number[] = []
let timer: NodeJS.Timeout | null = null

async function open(msg: Extract<ToGenerator, { type: 'readers' }>): Promise<void> {
  const system = systemById(msg.systemId)
  readers = Array.from({ length: msg.count }, () => openWire(system, msg.wsBase, msg.docId))
  clocks = readers.map(() => 0)
  if (system.wire === Wire.hocuspocus) {
    readers.forEach((r, i) => {
      r.onUpdate = (u) => {
        for (const c of Y.parseUpdateMeta(u).to.values()) if (c > clocks[i]) clocks[i] = c
      }
    })
  }
  await Promise.all(readers.map((r) => withTimeout(r.synced, 20_000, 'reader sync')))
  let last = ''
  timer = setInterval(() => {
    const received = readers.map((r) => r.received)
    const key = `${received.join(',')};${clocks.join(',')}`
    if (key === last) return
    last = key
    sendToBench({ type: 'progress', received, clocks: [...clocks] })
  }, REPORT_EVERY_MS)
}

process.on('message', (msg: ToGenerator) => {
  if (msg.type === 'readers') {
    open(msg).then(
      () => sendToBench({ type: 'opened' }),
      (err: unknown) => sendToBench({ type: 'failed', message: (err as Error).message }),
    )
  } else if (msg.type === 'close') {
    if (timer !== null) clearInterval(timer)
    for (const r of readers) r.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
sendToBench({ type: 'ready' })
