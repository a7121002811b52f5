import { describe, expect, it, onTestFinished } from 'vitest'
import pg from 'pg'
import { PG_URL, postgresReachable } from '../support/postgres.js'
import { randomId } from '@murmur/shared'
import { PostgresStorage } from '../../server/dist/storage/index.js'
import { runStorageAcceptance, type StorageHarness } from '@murmur/server/testing'

const url = PG_URL
const available = await postgresReachable('the PostgreSQL storage tests')

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

describe.skipIf(!available)('postgres', () => {
  runStorageAcceptance('postgres', async (): Promise<StorageHarness> => {
    // Each test gets its own schema, so runs never see each other's tables.
    const schema = `murmur_test_${randomId()}`
    const open = () => PostgresStorage.open({ connectionString: url, schema })
    let storage = await open()
    return {
      get storage() {
        return storage
      },
      async reopen() {
        await storage.close()
        storage = await open()
        return storage
      },
      async corruptLastEntry(key) {
        await admin(async (c) => {
          const { rows } = await c.query<{ seq: string; data: Buffer; crc32: number }>(
            `SELECT seq, data, crc32 FROM "${schema}".updates WHERE engine = $1 AND doc_id = $2 ORDER BY seq DESC LIMIT 1`,
            [key.engine, key.docId],
          )
          const row = rows[0]
          if (!row) throw new Error('no log entry to corrupt')
          // Flip the bytes; an empty entry has none, so flip its checksum instead.
          const data = row.data.length > 0 ? Buffer.from(row.data.map((b) => b ^ 0xff)) : row.data
          const crc = row.data.length > 0 ? row.crc32 : ~row.crc32
          await c.query(`UPDATE "${schema}".updates SET data = $1, crc32 = $2 WHERE engine = $3 AND doc_id = $4 AND seq = $5`, [
            data,
            crc,
            key.engine,
            key.docId,
            row.seq,
          ])
        })
      },
      async failWrites(fail) {
        await admin(async (c) => {
          if (fail) {
            await c.query(`CREATE FUNCTION "${schema}".fail_writes() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'simulated write failure'; END $$`)
            await c.query(`CREATE TRIGGER fail_writes BEFORE INSERT ON "${schema}".updates
              FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".fail_writes()`)
          } else {
            await c.query(`DROP TRIGGER fail_writes ON "${schema}".updates`)
            await c.query(`DROP FUNCTION "${schema}".fail_writes()`)
          }
        })
      },
      async cleanup() {
        await storage.close()
        await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
      },
    }
  })

  it('opens a schema whose outbox predates trace contexts: a queued message stays, new ones keep theirs', async () => {
    const schema = `murmur_test_${randomId()}`
    onTestFinished(async () => {
      await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
    })
    await admin(async (c) => {
      await c.query(`CREATE SCHEMA "${schema}"`)
      await c.query(`CREATE TABLE "${schema}".outbox (id text PRIMARY KEY, body text NOT NULL, due_at bigint NOT NULL,
        attempts integer NOT NULL DEFAULT 0, created_at bigint NOT NULL, last_error text)`)
      await c.query(`INSERT INTO "${schema}".outbox (id, body, due_at, created_at) VALUES ('queued', '{"event":"doc.changed"}', 5, 1)`)
    })
    const storage = await PostgresStorage.open({ connectionString: url, schema })
    onTestFinished(() => storage.close())
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    await storage.outboxPut([{ id: 'new', body: '{}', dueAt: 6, trace: [traceparent] }])
    expect((await storage.outboxDue(10, 10)).map((m) => [m.id, m.body, m.trace])).toEqual([
      ['queued', '{"event":"doc.changed"}', []],
      ['new', '{}', [traceparent]],
    ])
  })
})
