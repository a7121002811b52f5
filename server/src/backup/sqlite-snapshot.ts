import { Worker } from 'node:worker_threads'

/**
 * Copies the SQLite database at `source` into a new file `dest` with the online backup API, on a worker
 * thread. The copy is one consistent snapshot: every commit made before the call is in it. Safe while a
 * node serves from `source` (its writes go on; the copy neither blocks them nor changes the live file).
 * Resolves with the schema version of the copied database.
 */
export function snapshotSqlite(source: string, dest: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./sqlite-snapshot-thread.js', import.meta.url), { workerData: { source, dest } })
    let settled = false
    worker.once('message', (reply: { ok: true; schemaVersion: number } | { ok: false; message: string }) => {
      settled = true
      if (reply.ok) resolve(reply.schemaVersion)
      else reject(new Error(`sqlite backup of ${source} failed: ${reply.message}`))
    })
    worker.once('error', (err) => {
      settled = true
      reject(err)
    })
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`sqlite backup thread exited (code ${code}) before it finished`))
    })
  })
}
