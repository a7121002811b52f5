import { AmWire, openMurmurAm, openRepoAm, type AmClient } from '../lib/automerge-clients.js'
import { Floats, clockMs, sendToBench, type ToGenerator } from '../lib/generators.js'

/**
 * An Automerge fanout load generator: some of the scenario's real Automerge clients (Murmur's SDK or
 * automerge-repo Repos). Writers set their field `w<i>` to the send time on the machine's monotonic
 * clock; readers note [send time, arrival] for every new value they see. The parent keeps the window.
 */

let clients: { index: number; client: AmClient }[] = []
let timers: NodeJS.Timeout[] = []
let keepFrom = Infinity
/** [send time, arrival time] per arrival, after `keepFrom`. */
const arrivals = new Floats(1 << 14)
const sent = new Map<number, number[]>()

async function open(msg: Extract<ToGenerator, { type: 'am-open' }>): Promise<string> {
  let docId = msg.docId
  for (const index of msg.indices) {
    let client: AmClient
    if (msg.wire === AmWire.murmurSdk) {
      client = await openMurmurAm(msg.url, docId as string)
    } else {
      // With no id, this client creates the doc (the scenario's first); the others find it.
      const opened = await openRepoAm(msg.url, docId)
      docId = opened.docId
      client = opened.client
    }
    clients.push({ index, client })
    const seen = new Map<string, number>()
    const own = index < msg.writers ? `w${index}` : ''
    client.onChange((doc) => {
      const now = clockMs()
      for (let w = 0; w < msg.writers; w++) {
        const key = `w${w}`
        const sentAt = doc[key]
        if (key === own || typeof sentAt !== 'number' || seen.get(key) === sentAt) continue
        seen.set(key, sentAt)
        if (now >= keepFrom) arrivals.push(sentAt, now)
      }
    })
  }
  return docId ?? ''
}

function start(msg: Extract<ToGenerator, { type: 'start' }>): void {
  keepFrom = msg.keepFrom
  const periodMs = 1000 / msg.perWriterPerSecond
  for (const { index, client } of clients.filter((c) => c.index < msg.writers)) {
    const times: number[] = []
    sent.set(index, times)
    const tick = (): void => {
      const now = clockMs()
      times.push(now)
      client.set(`w${index}`, now)
    }
    // Staggered over the scenario's writers.
    const delay = Math.max(0, msg.t0 + (index * periodMs) / msg.writers - clockMs())
    timers.push(
      setTimeout(() => {
        tick()
        timers.push(setInterval(tick, periodMs))
      }, delay),
    )
  }
}

process.on('message', (msg: ToGenerator) => {
  switch (msg.type) {
    case 'am-open':
      open(msg).then(
        (docId) => sendToBench({ type: 'am-opened', docId }),
        (err: unknown) => sendToBench({ type: 'failed', message: (err as Error).message }),
      )
      break
    case 'start':
      start(msg)
      break
    case 'stop':
      for (const t of timers) clearInterval(t)
      timers = []
      break
    case 'report':
      sendToBench({ type: 'report', sent: [...sent.entries()], arrivals: arrivals.toArray() })
      break
    case 'close':
      void Promise.all(clients.map((c) => c.client.destroy())).finally(() => process.exit(0))
      clients = []
      break
  }
})
process.on('disconnect', () => process.exit(0))
sendToBench({ type: 'ready' })
