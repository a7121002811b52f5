/**
 * Every TypeScript snippet in the READMEs and docs/ type-checks against the packages as built: each fenced
 * `ts` or `tsx` block is a module of its own, compiled in strict mode. Shell, JSON, text and diff blocks are
 * not code; any other language must not appear.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { describe, expect, test } from 'vitest'
import { fencedBlocks, type Snippet } from '../support/markdown.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
/** Inside the repository, so the snippets' imports resolve to the workspace packages. */
const outDir = path.join(repoRoot, 'test-artifacts/snippets')

// A `diff` block shows which lines an app changes; the code around it is checked where it stands whole.
const NOT_CODE = new Set(['sh', 'json', 'text', 'txt', 'diff', ''])

function markdownFiles(): string[] {
  const docs = readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
  const readmes = ['README.md', 'client/README.md', 'server/README.md', 'shared/README.md', 'react/README.md', 'examples/react-todo/README.md']
  return [...readmes, ...docs]
}

describe('code in the docs', () => {
  const blocks = markdownFiles().flatMap(fencedBlocks)
  const code = blocks.filter((b) => !NOT_CODE.has(b.lang))

  test('every code block is TypeScript (ts or tsx), so it can be checked', () => {
    expect(code.filter((b) => b.lang !== 'ts' && b.lang !== 'tsx').map((b) => `${b.file}:${b.line} (${b.lang})`)).toEqual([])
    expect(code.length).toBeGreaterThan(3)
  })

  test('every TypeScript block type-checks against the built packages', () => {
    rmSync(outDir, { recursive: true, force: true })
    mkdirSync(outDir, { recursive: true })
    const byFile = new Map<string, Snippet>()
    for (const b of code) {
      const name = `${b.file.replace(/[/.]/gu, '_')}_${b.line}.${b.lang}`
      // A module of its own (top-level await, no globals shared between snippets).
      writeFileSync(path.join(outDir, name), `${b.code}\nexport {}\n`)
      byFile.set(path.join(outDir, name), b)
    }
    const program = ts.createProgram([...byFile.keys()], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
      types: ['node'],
      jsx: ts.JsxEmit.ReactJSX,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      isolatedModules: true,
    })
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const snippet = d.file === undefined ? undefined : byFile.get(path.resolve(d.file.fileName))
      const where =
        snippet !== undefined && d.file !== undefined && d.start !== undefined
          ? `${snippet.file}:${snippet.line + 1 + d.file.getLineAndCharacterOfPosition(d.start).line}`
          : (d.file?.fileName ?? '(no file)')
      return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`
    })
    expect(problems).toEqual([])
  })
})
