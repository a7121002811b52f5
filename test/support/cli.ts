import path from 'node:path'
import { spawn } from 'node:child_process'
import * as Y from 'yjs'
import { within } from './wait.js'

const cli = path.resolve(import.meta.dirname, '../../server/dist/cli.js')

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run `murmur <args>` to its exit (a command that fails at start, or prints and exits). */
export async function runCli(args: string[], env: Record<string, string> = {}, ms = 30_000): Promise<CliRun> {
  // The command line alone decides: no MURMUR_* variable of the environment running the tests leaks in.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MURMUR_')))
  const child = spawn(process.execPath, [cli, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await within(new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c))), ms, `murmur ${args.join(' ')} to exit`)
  return { code, stdout, stderr }
}

export function firstLine(text: string): string {
  return text.split('\n')[0]
}

/** A Yjs update that sets text `t` of a fresh doc to `text`. */
export function textUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** POST `update` to a doc of a node; the status code. */
export async function postUpdate(url: string, docId: string, update: Uint8Array): Promise<number> {
  const res = await fetch(`${url}/v1/docs/yjs/${encodeURIComponent(docId)}/updates`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(update) })
  await res.arrayBuffer()
  return res.status
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')
}
