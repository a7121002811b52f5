import { describe, expect, it, onTestFinished } from 'vitest'
import pg from 'pg'
import { PG_URL, postgresReachable } from '../support/postgres.js'
import * as Y from 'yjs'
import { randomId } from '@murmur/shared'
import { spawnNode } from '../support/servers.js'
import { sdkClient, untilSaved, untilSynced } from '../support/sdk.js'
import { untilText, whenProviderSynced, yProvider } from '../support/ywebsocket.js'

const url = PG_URL
const available = await postgresReachable('the end-to-end PostgreSQL node test')

describe.skipIf(!available)('a node on PostgreSQL (--storage postgres://…)', () => {
  it('syncs a doc between an SDK client and y-websocket, keeps it across kill -9, and serves its history', async () => {
    const schema = `murmur_e2e_${randomId().toLowerCase()}`
    onTestFinished(async () => {
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    })
    const storage = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`
    const node = await spawnNode(['--port', '0', '--storage', storage])
    expect(node.output.join('\n')).toMatch(new RegExp(`storage: postgres://.*#${schema}`, 'u'))

    const client = sdkClient(node.url)
    const handle = client.yjs('pg-notes')
    await untilSynced(handle)
    handle.doc.getText('t').insert(0, 'stored in PostgreSQL')
    await untilSaved(handle)
    const reader = yProvider(node.url, 'pg-notes')
    await whenProviderSynced(reader)
    await untilText(reader.doc, 't', 'stored in PostgreSQL')

    // Acknowledged means durable in PostgreSQL: a kill -9 loses nothing.
    await node.kill('SIGKILL')
    const again = await spawnNode(['--port', '0', '--storage', storage])
    const doc = await (await fetch(`${again.url}/v1/docs/yjs/pg-notes`)).json()
    expect(doc.content).toEqual({ t: 'stored in PostgreSQL' })
    const history = await (await fetch(`${again.url}/v1/docs/yjs/pg-notes/history`)).json()
    expect(history.entries.length).toBeGreaterThan(0)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, new Uint8Array(await (await fetch(`${again.url}/v1/docs/yjs/pg-notes/state`)).arrayBuffer()))
    expect(copy.getText('t').toString()).toBe('stored in PostgreSQL')

    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    const rows = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".updates WHERE doc_id = 'pg-notes'`)
    await admin.end()
    expect(rows.rows[0].n).toBeGreaterThan(0)
  })
})
