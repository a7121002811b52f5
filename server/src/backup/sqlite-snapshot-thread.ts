/*
 * A worker thread that copies a live SQLite database into a new file with the online backup API, off the
 * event loop of whoever asked (a serving node). Started by `snapshotSqlite` (sqlite-snapshot.ts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

interface SnapshotJob {
  readonly source: string
  readonly dest: string
}

/**
 * The backup API copies pages in steps, and restarts from the first page when another connection (the
 * node's writer) commits between two steps. Under steady writes, small steps could restart forever; so
 * after the first step every page left is copied in one step, which reads one consistent snapshot of the
 * database (WAL mode: the writer goes on committing meanwhile, never blocked).
 */
const ALL_PAGES = 0x7fffffff

async function snapshot({ source, dest }: SnapshotJob): Promise<number> {
  // Read-only: this connection never writes the live file, and never checkpoints or removes its WAL.
  const db = new Database(source, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    const version = Number(db.pragma('user_version', { simple: true }))
    await db.backup(dest, { progress: () => ALL_PAGES })
    return version
  } finally {
    db.close()
  }
}

const port = parentPort
if (!port) throw new Error('sqlite-snapshot-thread.js runs as a worker thread')
snapshot(workerData as SnapshotJob).then(
  (schemaVersion) => port.postMessage({ ok: true, schemaVersion }),
  (err: unknown) => port.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) }),
)
