import { describe, expect, it } from 'vitest'
import { BEGIN, END, docsBlock, replaceBlock, type RunRecord } from '../../bench/src/lib/docs.js'
import { GENERATOR_LIMIT, generatorLoad } from '../../bench/src/lib/generators.js'
import { summarizeProfile } from '../../bench/src/lib/profiles.js'
import { RowStatus, type Row, type ScenarioResult } from '../../bench/src/lib/scenario.js'
import { Verdict, evaluateTargets, overallMet, withTargets } from '../../bench/src/lib/targets.js'

function row(systemId: string, values: Record<string, number>, extra: Partial<Row> = {}): Row {
  return { system: systemId, systemId, peer: !systemId.startsWith('murmur'), status: RowStatus.ok, note: '', values, ...extra }
}

function fanout(rows: Row[]): ScenarioResult {
  return {
    id: 'fanout',
    title: 'fanout',
    measures: '',
    target: 'hand-written',
    params: {},
    columns: [{ key: 'p99', label: 'p99', unit: 'ms', better: 'lower' }],
    ratioKey: 'p99',
    rows,
    distributions: [],
    targetMet: true,
    notes: [],
    durationMs: 1,
  }
}

describe('bench targets', () => {
  it('compares like for like: each endpoint with the peer that serves the same clients, never the best of all', () => {
    const rows = [
      row('murmur', { p99: 10 }),
      row('murmur-cluster', { p99: 14 }),
      row('murmur-yjs', { p99: 30 }),
      row('murmur-hocuspocus', { p99: 30 }),
      row('y-websocket', { p99: 20 }),
      row('hocuspocus', { p99: 40 }),
    ]
    const byEndpoint = new Map(evaluateTargets('fanout', rows).map((t) => [t.spec.endpoint, t]))
    // /yjs against y-websocket (20 ms), although Hocuspocus (40 ms) would make it look met.
    expect(byEndpoint.get('/yjs')?.verdict).toBe(Verdict.notMet)
    expect(byEndpoint.get('/yjs')?.ratio).toBeCloseTo(1.5)
    expect(byEndpoint.get('/hocuspocus')?.verdict).toBe(Verdict.met)
    // The cluster is held to 1.5× the single node: 14 ≤ 15.
    expect(byEndpoint.get('/sync, 3-node cluster')?.verdict).toBe(Verdict.met)
    expect(byEndpoint.get('/hocuspocus, 3 nodes')?.verdict).toBe(Verdict.notRun)
    expect(overallMet(evaluateTargets('fanout', rows))).toBe(false)
  })

  it('never calls a target met on a row whose load generator was the bottleneck', () => {
    const rows = [row('murmur-yjs', { p99: 10 }), row('y-websocket', { p99: 20 }, { invalid: true, noRatio: true })]
    const yjs = evaluateTargets('fanout', rows).find((t) => t.spec.endpoint === '/yjs')
    expect(yjs?.verdict).toBe(Verdict.invalid)
  })

  it('judges ratios to a raw baseline kept in the row, higher-is-better included', () => {
    const rows = [row('murmur', { rate: 30_000, vsRaw: 0.3 }), row('murmur-yjs', { rate: 50_000 }), row('y-websocket', { rate: 20_000 })]
    const judged = new Map(evaluateTargets('ingest', rows).map((t) => [t.spec.endpoint, t]))
    expect(judged.get('/sync')?.verdict).toBe(Verdict.notMet)
    expect(judged.get('/sync')?.reference).toBeCloseTo(100_000)
    expect(judged.get('/yjs')?.verdict).toBe(Verdict.met)
  })

  it("replaces a scenario's own verdict with its targets' verdict", () => {
    const judged = withTargets(fanout([row('murmur-yjs', { p99: 30 }), row('y-websocket', { p99: 20 })]))
    expect(judged.targetMet).toBe(false)
    expect(judged.target).toContain('/yjs')
  })
})

describe('bench generators', () => {
  it(`marks a generator process above ${GENERATOR_LIMIT} of a core as the bottleneck`, () => {
    expect(generatorLoad([0.3, 0.2]).valid).toBe(true)
    expect(generatorLoad([0.3, GENERATOR_LIMIT + 0.05]).valid).toBe(false)
    expect(generatorLoad([0.3, 0.2]).max).toBe(0.3)
  })
})

describe('bench docs', () => {
  const run: RunRecord = {
    startedAt: '2026-12-07T00:00:00.000Z',
    durationMs: 60_000,
    quick: true,
    command: 'npm run bench -- --quick',
    machine: { cpus: 2, cpuModel: 'cpu', memoryBytes: 2 ** 30, node: 'v24.0.0', platform: 'linux' },
    placement: 'servers on CPU 0, generators on CPU 1',
    systems: [{ id: 'y-websocket', label: 'y-websocket server', peer: true, persistence: 'y-leveldb', versions: { '@y/websocket-server': '0.1.1' } }],
    results: [fanout([row('murmur-yjs', { p99: 30 }), row('y-websocket', { p99: 20 })])],
  }

  it('rewrites only the generated block and keeps every section written by hand', () => {
    const doc = `# Performance\n\nintro, naming the end marker ${END} in its text\n\n${BEGIN}\nold figures\n${END}\n\n## Before and after the update-path refactor\n\nkept\n`
    const next = replaceBlock(doc, docsBlock(run, 'perf', ['fanout-latency.svg']))
    expect(next).not.toContain('old figures')
    expect(next).toContain('## Before and after the update-path refactor\n\nkept')
    expect(next.startsWith(`# Performance\n\nintro, naming the end marker ${END} in its text\n\n`)).toBe(true)
    expect(next).toContain('![fanout latency distributions](perf/fanout-latency.svg)')
    expect(next).toContain('| fanout | /yjs | p99 |')
    expect(next).toContain('**not met**')
    expect(next).toContain('@y/websocket-server 0.1.1')
    // Written twice, the block is replaced, not stacked.
    const again = replaceBlock(next, docsBlock(run, 'perf', []))
    expect(again.split(BEGIN).length).toBe(2)
  })

  it('shows, for a target not met, the profile of the Murmur server it measured', () => {
    const top = (name: string) => [{ name, where: 'server/dist/x.js:1', selfMs: 10, share: 0.5 }]
    const profiled: RunRecord = {
      ...run,
      profiles: [
        { name: 'fanout-murmur-yjs-other-001', totalMs: 20, busyMs: 20, measuredOnly: false, top: top('otherServer') },
        { name: 'fanout-murmur-yjs-002', totalMs: 20, busyMs: 20, measuredOnly: false, top: top('encodeUpdate') },
      ],
    }
    const block = docsBlock(profiled, 'perf', [])
    expect(block).toContain('### Where the time goes: targets not met')
    expect(block).toContain('| encodeUpdate | server/dist/x.js:1 | 10 ms | 50.0 % |')
    expect(block).not.toContain('otherServer')
    expect(docsBlock(run, 'perf', [])).toContain('This run was not profiled')
  })

  it('appends the block to a file that has no markers yet', () => {
    expect(replaceBlock('# Performance\n', 'BLOCK')).toBe('# Performance\n\nBLOCK\n')
  })
})

describe('bench profiles', () => {
  it('keeps only the samples inside the measuring windows when it has them', () => {
    const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0 })
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('startUp') },
        { id: 2, callFrame: frame('measured') },
      ],
      // Samples at 1, 2, 3 and 4 ms on the monotonic clock (µs in the profile).
      startTime: 0,
      samples: [1, 2, 2, 1],
      timeDeltas: [1000, 1000, 1000, 1000],
    }
    const windowed = summarizeProfile('p', profile, 12, [[2, 4]])
    expect(windowed.measuredOnly).toBe(true)
    expect(windowed.top.map((f) => [f.name, f.selfMs])).toEqual([['measured', 2]])
    expect(summarizeProfile('p', profile).top.map((f) => f.name).sort()).toEqual(['measured', 'startUp'])
  })

  it('sums self time per function and ranks them', () => {
    const frame = (functionName: string) => ({ functionName, url: 'file:///x/server/dist/a.js', lineNumber: 0 })
    const summary = summarizeProfile('p', {
      nodes: [
        { id: 1, callFrame: frame('(idle)') },
        { id: 2, callFrame: frame('encode') },
        { id: 3, callFrame: frame('apply') },
      ],
      samples: [2, 3, 2, 2, 1],
      timeDeltas: [1000, 1000, 1000, 1000, 6000],
    })
    // Waiting is left out: shares are of the busy time.
    expect(summary.totalMs).toBe(10)
    expect(summary.busyMs).toBe(4)
    expect(summary.top.map((f) => f.name)).toEqual(['encode', 'apply'])
    expect(summary.top[0]).toMatchObject({ name: 'encode', selfMs: 3, share: 0.75, where: 'server/dist/a.js:1' })
  })
})
