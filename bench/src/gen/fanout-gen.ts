import type * as Y from 'yjs'
import { openDocClient, whenSynced, type DocClient } from '../lib/doc-clients.js'
import { systemById } from '../lib/systems.js'
import { inBatches, withTimeout } from '../lib/timing.js'
import { Floats, clockMs, sendToBench, type ToGenerator } from '../lib/generators.js'

/**
 * A fanout load generator: one process holding some of the scenario's real clients (every client i with
 * i % processes = this one's index). Its writers set their key of the map on fixed target times; its
 * readers note, per write they see, the writer, the seqs it covers and the arrival time on the machine's
 * monotonic clock, which every process shares. The parent pairs arrivals with send times.
 */

// Every y-websocket provider adds a process 'exit' listener under Node (to withdraw its awareness state),
// so a generator holding tens of them would print a listener-leak warning that is not one.
process.setMaxListeners(0)

/** Writers set their own key of this map to [seq, sendTime]; overwritten values are garbage-collected. */
const MAP = 'writers'

let clients: { index: number; client: DocClient }[] = []
let timer: NodeJS.Timeout | null = null
let keepFrom = Infinity
/** [reader, writer, first seq, last seq, arrival ms] per arrival, after `keepFrom`. */
const arrivals = new Floats(1 << 16)
const sent = new Map<number, number[]>()

async function open(msg: Extract<ToGenerator, { type: 'open' }>): Promise<void> {
  const system = systemById(msg.systemId)
  const mine = msg.indices
  const opened = await inBatches(mine, 10, async (i) => {
    const c = openDocClient(system, msg.urls[i % msg.urls.length], msg.docId)
    await withTimeout(whenSynced(c), 30_000, `client ${i} sync`)
    return { index: i, client: c }
  })
  clients = opened
  for (const { index: reader, client } of clients) {
    const map = client.doc.getMap(MAP) as Y.Map<[number, number]>
    const seen = new Array<number>(msg.writers).fill(-1)
    map.observe((event) => {
      if (event.transaction.local) return
      const now = clockMs()
      for (const key of event.keysChanged) {
        const v = map.get(key)
        if (v === undefined) continue
        const writer = Number(key)
        const seq = v[0]
        if (seq <= seen[writer]) continue
        // A reader sees only a key's latest value: the writes it skipped arrived with this one.
        if (now >= keepFrom) arrivals.push(reader, writer, seen[writer] + 1, seq, now)
        seen[writer] = seq
      }
    })
  }
}

function start(msg: Extract<ToGenerator, { type: 'start' }>): void {
  keepFrom = msg.keepFrom
  const periodMs = 1000 / msg.perWriterPerSecond
  const writers = clients
    .filter((c) => c.index < msg.writers)
    .map((c) => ({
      i: c.index,
      map: c.client.doc.getMap(MAP) as Y.Map<[number, number]>,
      seq: 0,
      // Staggered over the whole scenario's writers, so they do not all fire in the same millisecond.
      due: msg.t0 + (c.index * periodMs) / msg.writers,
    }))
  for (const w of writers) sent.set(w.i, [])
  // One timer on fixed target times (an interval per writer would drift into bursts after a busy moment).
  const fire = (): void => {
    const now = clockMs()
    let next = Infinity
    for (const w of writers) {
      if (w.due <= now) {
        ;(sent.get(w.i) as number[])[w.seq] = now
        w.map.set(String(w.i), [w.seq++, now])
        w.due += periodMs
      }
      next = Math.min(next, w.due)
    }
    if (next !== Infinity) timer = setTimeout(fire, Math.max(0, next - clockMs()))
  }
  fire()
}

process.on('message', (msg: ToGenerator) => {
  switch (msg.type) {
    case 'open':
      open(msg).then(
        () => sendToBench({ type: 'opened' }),
        (err: unknown) => sendToBench({ type: 'failed', message: (err as Error).message }),
      )
      break
    case 'start':
      start(msg)
      break
    case 'stop':
      if (timer !== null) clearTimeout(timer)
      timer = null
      break
    case 'report':
      sendToBench({ type: 'report', sent: [...sent.entries()], arrivals: arrivals.toArray() })
      break
    case 'close':
      void Promise.all(clients.map((c) => c.client.destroy())).finally(() => process.exit(0))
      break
  }
})
process.on('disconnect', () => process.exit(0))
sendToBench({ type: 'ready' })
