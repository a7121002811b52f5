import { gzipSync } from 'node:zlib'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { RowStatus, statusRow, type Column, type Row, type Scenario } from '../lib/scenario.js'

/** What an app imports, bundled for a browser as an app's bundler would (esbuild, minified). */
interface Entry {
  readonly id: string
  readonly label: string
  readonly peer: boolean
  /** The module an app's code would be: what it imports. */
  readonly source: string
  readonly note: string
}

const ENTRIES: readonly Entry[] = [
  // The summary line compares the Yjs SDK with the peer that does the same job (sync + offline storage).
  { id: 'murmur', label: '@murmur/client/yjs', peer: false, source: `export * from '@murmur/client/yjs'`, note: 'Yjs SDK: socket, IndexedDB, awareness' },
  { id: 'client-automerge', label: '@murmur/client/automerge', peer: false, source: `export * from '@murmur/client/automerge'`, note: 'Automerge SDK (wasm)' },
  { id: 'client', label: '@murmur/client', peer: false, source: `export * from '@murmur/client'`, note: 'both engines' },
  { id: 'shared-yjs', label: '@murmur/shared/yjs', peer: false, source: `export * from '@murmur/shared/yjs'`, note: 'protocol + Yjs engine' },
  { id: 'shared-automerge', label: '@murmur/shared/automerge', peer: false, source: `export * from '@murmur/shared/automerge'`, note: 'protocol + Automerge engine (wasm)' },
  { id: 'shared', label: '@murmur/shared', peer: false, source: `export * from '@murmur/shared'`, note: 'both engines' },
  {
    id: 'y-websocket',
    label: 'y-websocket + y-indexeddb',
    peer: true,
    source: `export * from 'y-websocket'\nexport * from 'y-indexeddb'\nexport * as Y from 'yjs'`,
    note: 'WebsocketProvider + IndexeddbPersistence + yjs',
  },
]

const COLUMNS: readonly Column[] = [
  { key: 'gzipped', label: 'gzipped (JS + wasm)', unit: 'bytes', better: 'lower' },
  { key: 'minified', label: 'minified (JS + wasm)', unit: 'bytes' },
  { key: 'jsGzipped', label: 'JS gzipped', unit: 'bytes' },
  { key: 'wasm', label: 'wasm', unit: 'bytes' },
]

const here = path.dirname(fileURLToPath(import.meta.url))

/** The sizes of one entry's bundle: every output file (the JS and any wasm it loads), minified and gzipped. */
async function measure(entry: Entry): Promise<Record<string, number>> {
  const result = await build({
    stdin: { contents: entry.source, resolveDir: here, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    outdir: path.join(here, 'bundle-out'),
    // Automerge's browser build imports its .wasm as a module: shipped as a file beside the JS.
    loader: { '.wasm': 'file' },
    logLevel: 'silent',
  })
  const values = { gzipped: 0, minified: 0, jsGzipped: 0, wasm: 0 }
  for (const file of result.outputFiles) {
    const gzipped = gzipSync(file.contents, { level: 9 }).length
    values.minified += file.contents.length
    values.gzipped += gzipped
    if (file.path.endsWith('.wasm')) values.wasm += file.contents.length
    else values.jsGzipped += gzipped
  }
  return values
}

export const bundle: Scenario = {
  id: 'bundle',
  title: 'bundle: what each entry point adds to a browser app, beside y-websocket + y-indexeddb',
  async run(ctx) {
    const started = performance.now()
    const rows: Row[] = []
    for (const entry of ENTRIES) {
      ctx.log(`  ${entry.label}`)
      try {
        const values = await measure(entry)
        rows.push({ system: entry.label, systemId: entry.id, peer: entry.peer, status: RowStatus.ok, note: entry.note, values })
      } catch (err) {
        rows.push(statusRow({ label: entry.label, id: entry.id, peer: entry.peer }, RowStatus.failed, (err as Error).message.split('\n')[0].slice(0, 160)))
      }
    }
    const yjs = rows.find((r) => r.systemId === 'murmur')
    return {
      id: 'bundle',
      title: this.title,
      measures:
        'Each entry point bundled for the browser by esbuild as an app would import it (`export * from ...`, minified, ESM), ' +
        'and the JS and wasm it ships gzipped at level 9. The peer row is the usual Yjs stack for the same job: ' +
        'y-websocket for sync and y-indexeddb for offline storage, with yjs.',
      target: 'a Yjs-only app ships no Automerge code or wasm (@murmur/client/yjs: wasm 0)',
      params: {},
      columns: COLUMNS,
      ratioKey: 'gzipped',
      rows,
      distributions: [],
      targetMet: yjs === undefined || yjs.status !== RowStatus.ok ? null : yjs.values.wasm === 0,
      notes: [],
      durationMs: performance.now() - started,
    }
  },
}
