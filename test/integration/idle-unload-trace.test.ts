/**
 * A long Yjs doc (a prefix of the automerge-paper editing trace, or the generated stand-in) written
 * through the HTTP API while the server keeps unloading it when idle, compacting it and making
 * automatic versions: every write is accepted, and the doc reloads (also after a restart) as written.
 */
import { describe, expect, it } from 'vitest'
import type { MurmurServer } from '../../server/dist/index.js'
import { loadTrace } from '../../bench/dist/traces.js'
import { yjsTraceUpdates } from '../../bench/dist/lib/trace-updates.js'
import { startTestServer, tempDir } from '../support/servers.js'
import { until } from '../support/wait.js'

/** Enough edits for the doc to unload and compact many times over while it is written. */
const EDITS = 300
/** Every this many writes the test waits for the doc to unload, so unloads happen whatever the machine's speed. */
const PAUSE_EVERY = 30

const octets = { 'content-type': 'application/octet-stream' }

async function writeAll(server: MurmurServer, updates: readonly Uint8Array[]): Promise<string[]> {
  const failures: string[] = []
  for (const [i, update] of updates.entries()) {
    if (i > 0 && i % PAUSE_EVERY === 0) {
      const unloads = server.registry.stats.unloads
      await until(
        () => server.registry.stats.unloads > unloads,
        (onChange) => {
          server.registry.on('unload', onChange)
          return () => server.registry.off('unload', onChange)
        },
        10_000,
        'the idle doc to unload',
      )
    }
    const res = await server.http.inject({ method: 'POST', url: '/v1/docs/yjs/trace/updates', headers: octets, payload: Buffer.from(update) })
    if (res.statusCode !== 200) failures.push(`${res.statusCode} ${res.body}`)
  }
  return failures
}

async function textOf(server: MurmurServer): Promise<string> {
  const res = await server.http.inject({ url: '/v1/docs/yjs/trace' })
  expect(res.statusCode, res.body).toBe(200)
  return res.json().content.text as string
}

describe('a long doc unloaded while idle', () => {
  const trace = yjsTraceUpdates(loadTrace('automerge-paper'), EDITS)

  for (const [label, versions] of [
    ['automatic versions off', { autoVersionIdleMs: 0 }],
    ['automatic versions on', { autoVersionIdleMs: 1, autoVersionIntervalMs: 5, autoVersionKeep: 20 }],
  ] as const) {
    it(`takes every write and reloads as written (${label})`, { timeout: 120_000 }, async () => {
      const dataDir = tempDir()
      // The doc is unloaded a few ms after each use, and compacted every 25 updates on the way.
      const config = { storage: 'sqlite', dataDir, idleUnloadMs: 5, hibernateAfterMs: 0, compactEveryUpdates: 25, httpRequestsPerMinute: 0, ...versions }
      let server = await startTestServer(config)
      const failures = await writeAll(server, trace.updates)
      expect(failures.slice(0, 3)).toEqual([])
      expect(server.registry.stats.unloads).toBeGreaterThan(0)
      const text = await textOf(server)
      expect(text.length).toBe(trace.finalLength)
      await server.close()
      server = await startTestServer(config)
      expect(await textOf(server)).toBe(text)
    })
  }
})
