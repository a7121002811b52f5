/**
 * Versions reach a replica that was down, on real node processes: versions made and a named version
 * deleted while the replica is down, the node that made them restarted in between (so nothing it kept
 * in memory survives), then the replica comes back. Version anti-entropy brings it every version and the
 * delete, and the replica's stale copy of the deleted version does not come back on the other node.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { SECRET } from '../support/cluster.js'
import { freePort } from '../support/ports.js'
import { spawnNode, tempDir, type NodeProcess } from '../support/servers.js'
import { eventually } from '../support/wait.js'

const DOC = 'http://127.0.0.1:PORT/v1/docs/yjs/durable-history'

interface Node {
  readonly name: string
  readonly port: number
  readonly dataDir: string
  proc: NodeProcess | null
}

function start(node: Node, other: Node): Promise<NodeProcess> {
  return spawnNode([
    '--port', String(node.port), '--data-dir', node.dataDir, '--node-id', node.name,
    '--advertise-url', `ws://127.0.0.1:${node.port}`, '--peers', `ws://127.0.0.1:${other.port}`, '--cluster-secret', SECRET,
    '--probe-interval-ms', '200', '--anti-entropy-ms', '300', '--replication-factor', '2',
  ])
}

const docUrl = (node: Node, rest = ''): string => DOC.replace('PORT', String(node.port)) + rest

async function versionNames(node: Node): Promise<string[]> {
  const res = await fetch(docUrl(node, '/versions'))
  if (res.status !== 200) return [`HTTP ${res.status}`]
  const body = (await res.json()) as { versions: { name: string | null }[] }
  return body.versions.map((v) => v.name ?? '(auto)').sort()
}

async function nameVersion(node: Node, name: string): Promise<string> {
  const res = await fetch(docUrl(node, '/versions'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  expect(res.status).toBe(201)
  return ((await res.json()) as { version: { id: string } }).version.id
}

async function write(node: Node, doc: Y.Doc, text: string): Promise<void> {
  const before = Y.encodeStateVector(doc)
  doc.getText('t').insert(doc.getText('t').length, text)
  const res = await fetch(docUrl(node, '/updates'), {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from(Y.encodeStateAsUpdate(doc, before)),
  })
  expect(res.status).toBe(200)
}

/** The anti-entropy rounds a node started (`GET /v1/cluster`). */
async function roundsOf(node: Node): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${node.port}/v1/cluster`)
  return ((await res.json()) as { antiEntropy: { rounds: number } }).antiEntropy.rounds
}

async function same(node: Node, names: string[]): Promise<boolean> {
  return JSON.stringify(await versionNames(node)) === JSON.stringify(names)
}

describe('cluster: versions reach a replica that was down', () => {
  it('gets every version and delete made while it was down, across a restart of the node that made them', { timeout: 120_000 }, async () => {
    const [pa, pb] = await Promise.all([freePort(), freePort()])
    const a: Node = { name: 'node-a', port: pa, dataDir: tempDir(), proc: null }
    const b: Node = { name: 'node-b', port: pb, dataDir: tempDir(), proc: null }
    const started = await Promise.all([start(a, b), start(b, a)])
    a.proc = started[0]
    b.proc = started[1]
    const doc = new Y.Doc()
    await write(a, doc, 'first')
    await nameVersion(a, 'v0')
    const v0 = ['v0']
    // Pushed while both are up.
    await eventually(() => same(b, v0), 30_000, 'v0 on the replica')

    await b.proc.kill('SIGKILL')
    await write(a, doc, ' second')
    await nameVersion(a, 'v1')
    await write(a, doc, ' third')
    const v2 = await nameVersion(a, 'v2')
    const v0id = ((await (await fetch(docUrl(a, '/versions'))).json()) as { versions: { id: string; name: string }[] }).versions.find((v) => v.name === 'v0')!.id
    expect((await fetch(docUrl(a, `/versions/${v0id}`), { method: 'DELETE' })).status).toBe(200)
    expect(await versionNames(a)).toEqual(['v1', 'v2'])
    // The node that made them restarts before the replica is back: whatever it queued in memory is gone.
    await a.proc.kill('SIGKILL')
    a.proc = await start(a, b)
    b.proc = await start(b, a)
    await eventually(() => same(b, ['v1', 'v2']), 60_000, 'every version, and the delete, on the replica that was down')
    const read = await fetch(docUrl(b, `/versions/${v2}`))
    expect(((await read.json()) as { content: unknown }).content).toEqual({ t: 'first second third' })
    // The replica's stale copy of v0 did not come back on the node that deleted it, after two more
    // anti-entropy rounds on each node (each one compares versions too).
    const [ra, rb] = [await roundsOf(a), await roundsOf(b)]
    await eventually(async () => (await roundsOf(a)) >= ra + 2 && (await roundsOf(b)) >= rb + 2, 30_000, 'two more anti-entropy rounds on each node')
    expect(await versionNames(a)).toEqual(['v1', 'v2'])
    expect(await versionNames(b)).toEqual(['v1', 'v2'])
  })
})
