import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CloseCode, ErrorCode, MessageType } from '@murmur/shared'
import { SETTINGS } from '../../server/dist/index.js'

const root = path.resolve(import.meta.dirname, '../..')
const read = (file: string) => readFileSync(path.join(root, file), 'utf8')

describe('docs are kept true', () => {
  it('docs/protocol.md lists every error code and every close code', () => {
    const doc = read('docs/protocol.md')
    for (const code of Object.values(ErrorCode)) expect(doc, code).toContain(`\`${code}\``)
    for (const code of Object.values(CloseCode)) expect(doc, String(code)).toContain(String(code))
  })

  it('docs/protocol.md lists every message type', () => {
    const doc = read('docs/protocol.md')
    for (const [name, type] of Object.entries(MessageType)) expect(doc, name).toMatch(new RegExp(`\\| ${type} \\| ${name} \\|`, 'u'))
  })

  it('docs/operations.md lists every flag and env var', () => {
    const doc = read('docs/operations.md')
    for (const s of SETTINGS) {
      expect(doc, s.flag).toContain(`--${s.flag}`)
      expect(doc, s.env).toContain(s.env)
    }
  })
})
