import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteStorage } from '../../server/dist/storage/index.js'
import { runStorageAcceptance, type StorageHarness } from '@murmur/server/testing'

/** Damage and fault injection go through a second connection, as an outside cause would. */
function withDb<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path)
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

runStorageAcceptance('sqlite', async (): Promise<StorageHarness> => {
  const dir = await mkdtemp(join(tmpdir(), 'murmur-sqlite-'))
  // A subdirectory that does not exist yet: opening must create it.
  const path = join(dir, 'data', 'murmur.db')
  let storage = await SqliteStorage.open({ path })
  return {
    get storage() {
      return storage
    },
    async reopen() {
      await storage.close()
      storage = await SqliteStorage.open({ path })
      return storage
    },
    async corruptLastEntry(key) {
      withDb(path, (db) => {
        const row = db
          .prepare<[string, string], { seq: number; data: Buffer; crc32: number }>(
            'SELECT seq, data, crc32 FROM updates WHERE engine = ? AND doc_id = ? ORDER BY seq DESC LIMIT 1',
          )
          .get(key.engine, key.docId)
        if (!row) throw new Error('no log entry to corrupt')
        // Flip the bytes; an empty entry has none, so flip its checksum instead.
        const data = row.data.length > 0 ? Buffer.from(row.data.map((b) => b ^ 0xff)) : row.data
        const crc = row.data.length > 0 ? row.crc32 : ~row.crc32 >>> 0
        db.prepare('UPDATE updates SET data = ?, crc32 = ? WHERE engine = ? AND doc_id = ? AND seq = ?').run(
          data,
          crc,
          key.engine,
          key.docId,
          row.seq,
        )
      })
    },
    async failWrites(fail) {
      withDb(path, (db) => {
        if (fail) {
          db.exec(`CREATE TRIGGER fail_writes BEFORE INSERT ON updates BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`)
        } else {
          db.exec('DROP TRIGGER fail_writes')
        }
      })
    },
    async cleanup() {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})
