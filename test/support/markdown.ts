/** Fenced code blocks of the repository's Markdown files. */
import { readFileSync } from 'node:fs'
import path from 'node:path'

const repoRoot = path.resolve(import.meta.dirname, '../..')

export interface Snippet {
  readonly file: string
  readonly line: number
  readonly lang: string
  readonly code: string
}

/** The fenced blocks of a Markdown file (a path from the repository root). */
export function fencedBlocks(file: string): Snippet[] {
  const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n')
  const blocks: Snippet[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/u.exec(lines[i])
    if (open === null) continue
    const start = i
    const body: string[] = []
    while (++i < lines.length && !/^```\s*$/u.test(lines[i])) body.push(lines[i])
    blocks.push({ file, line: start + 1, lang: open[1], code: body.join('\n') })
  }
  return blocks
}
