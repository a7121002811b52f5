import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { RunRecord } from '../../bench/src/lib/docs.js'

/**
 * The bench's own machinery, end to end and bounded: a quick fanout of two systems with the clients in
 * generator processes. Figures are not asserted (timing lives in bench/, and this machine is shared);
 * what is checked is that every row says how it ran and that the summary judges the endpoint like for like.
 */
const run = path.resolve(import.meta.dirname, '../../bench/dist/run.js')
const results = mkdtempSync(path.join(os.tmpdir(), 'murmur-bench-smoke-'))

afterAll(() => rmSync(results, { recursive: true, force: true }))

describe('bench --quick smoke', () => {
  it('runs fanout with generator processes and records their CPU per row', () => {
    expect(existsSync(run), 'bench/dist/run.js (npm run build)').toBe(true)
    const out = spawnSync(process.execPath, [run, '--quick', '--scenario', 'fanout', '--systems', 'murmur-yjs,y-websocket'], {
      encoding: 'utf8',
      env: { ...process.env, MURMUR_BENCH_RESULTS_DIR: results },
      timeout: 170_000,
    })
    expect(out.status, out.stdout.slice(-3000) + out.stderr.slice(-2000)).toBe(0)
    const record = JSON.parse(readFileSync(path.join(results, 'latest.json'), 'utf8')) as RunRecord
    const fanout = record.results.find((r) => r.id === 'fanout')
    expect(fanout?.rows.map((r) => r.systemId)).toEqual(['murmur-yjs', 'y-websocket'])
    for (const row of fanout?.rows ?? []) {
      expect(row.status).toBe('ok')
      expect(Number.isFinite(row.values.genCpuMax)).toBe(true)
      expect(row.note).toMatch(/2 generator processes at \d\.\d\d \/ \d\.\d\d cores/)
      expect(row.values.delivered).toBeGreaterThan(0)
    }
    const md = readFileSync(path.join(results, 'latest.md'), 'utf8')
    expect(md).toMatch(/\| fanout \| \/yjs \| p99 \| .* \| .*y-websocket server.* \| \d+\.\d\d× \|/)
    expect(existsSync(path.join(results, 'latest-fanout-latency.svg'))).toBe(true)
  }, 180_000)
})
