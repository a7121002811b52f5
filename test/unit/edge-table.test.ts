import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { httpRoutes, upgradeRoutes } from '../../server/dist/edge/routes.js'

const architecture = readFileSync(path.resolve(import.meta.dirname, '../../docs/architecture.md'), 'utf8')

describe('the edge table', () => {
  it('docs/architecture.md lists every row of it', () => {
    for (const row of upgradeRoutes) expect(architecture, `upgrade path ${row.path}`).toContain(`| \`${row.path}\` |`)
    for (const row of httpRoutes) {
      for (const route of row.paths.split(', ')) expect(architecture, `HTTP route ${route}`).toContain(`\`${route}\``)
    }
  })

  it('each upgrade path has one row, and the rows tell the paths apart', () => {
    const samples: Record<string, string> = { '/sync': '/sync', '/yjs/<docId>': '/yjs/notes', '/automerge': '/automerge', '/peer': '/peer', '/hocuspocus': '/hocuspocus' }
    expect(upgradeRoutes.map((r) => r.path).sort()).toEqual(Object.keys(samples).sort())
    for (const [routePath, sample] of Object.entries(samples)) {
      expect(upgradeRoutes.filter((r) => r.matches(sample)).map((r) => r.path)).toEqual([routePath])
    }
    expect(upgradeRoutes.some((r) => r.matches('/unknown'))).toBe(false)
  })
})
