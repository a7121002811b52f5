// Child process for the storage crash test: appends a stream of updates to SqliteStorage and prints
// "ack <doc> <seq> <n>" only after append(n) resolved, i.e. once entry n is durable. It keeps appending
// until it is killed. Usage: node append-worker.mjs <dataDir> [docs] [inFlight]
import { join } from 'node:path'
import { TextEncoder } from 'node:util'
import { SqliteStorage } from '../../server/dist/storage/index.js'

const [dir, docsArg = '4', inFlightArg = '64'] = process.argv.slice(2)
if (!dir) {
  process.stderr.write('usage: append-worker.mjs <dataDir> [docs] [inFlight]\n')
  process.exit(2)
}
const docs = Number(docsArg)
const inFlight = Number(inFlightArg)

/** Entry n's bytes; the test recomputes them, so the two definitions must stay identical. */
function payload(n) {
  return new TextEncoder().encode(`entry ${n};`.repeat(1 + (n % 17)))
}

const storage = await SqliteStorage.open({ path: join(dir, 'murmur.db') })
// A restarted worker must not reuse numbers an earlier run already acknowledged.
const start = Number(process.env.APPEND_WORKER_FIRST_N ?? '0')
let next = start

function appendOne() {
  const n = next++
  const doc = n % docs
  storage.append({ engine: 'yjs', docId: `crash-${doc}` }, payload(n)).then(
    (seq) => {
      process.stdout.write(`ack ${doc} ${seq} ${n}\n`)
      appendOne()
    },
    (err) => {
      process.stderr.write(`append ${n} failed: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    },
  )
}

process.stdout.write('ready\n')
for (let i = 0; i < inFlight; i++) appendOne()
