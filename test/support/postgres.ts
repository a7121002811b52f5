import pg from 'pg'

/** The PostgreSQL the tests use: `MURMUR_TEST_PG_URL`, or the CI machine's local server. */
export const PG_URL = process.env.MURMUR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Whether the test server answers; a test file that needs it says so and skips when it does not. */
export async function postgresReachable(what: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    console.warn(`PostgreSQL is not reachable at ${PG_URL}: skipping ${what}`)
    return false
  } finally {
    await client.end().catch(() => {})
  }
}
