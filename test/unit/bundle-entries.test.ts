/**
 * A Yjs-only app bundles nothing of Automerge: the per-engine entry points import only their engine.
 * Bundles the built packages (`npm run build`) for the browser, as an app's bundler would.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { build } from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** The input files and the output (JS and wasm) of bundling `source` for a browser. */
async function bundle(source: string): Promise<{ inputs: string[]; outputs: { path: string; text: string }[] }> {
  const result = await build({
    stdin: { contents: source, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    outdir: path.join(root, 'bundle-out'),
    loader: { '.wasm': 'file' },
    logLevel: 'silent',
  })
  return {
    inputs: Object.keys(result.metafile.inputs),
    outputs: result.outputFiles.map((f) => ({ path: f.path, text: f.text })),
  }
}

/** What of Automerge a bundle holds: its modules, its wasm, or code that loads them (the engine's name alone is fine). */
function automergeIn(b: Awaited<ReturnType<typeof bundle>>): string[] {
  return [
    ...b.inputs.filter((i) => /automerge/i.test(i)),
    ...b.outputs.filter((o) => o.path.endsWith('.wasm')).map((o) => path.basename(o.path)),
    ...b.outputs.filter((o) => /automerge[_-]wasm|@automerge\/|\.wasm\b/i.test(o.text)).map((o) => `${path.basename(o.path)} loads Automerge`),
  ]
}

describe('per-engine entry points', () => {
  it('@murmur/client/yjs and @murmur/shared/yjs bundle no Automerge code and no wasm', async () => {
    for (const entry of ['@murmur/client/yjs', '@murmur/shared/yjs']) {
      const b = await bundle(`export * from '${entry}'`)
      expect(b.inputs.some((i) => i.includes('yjs'))).toBe(true)
      expect(automergeIn(b), entry).toEqual([])
    }
  }, 60_000)

  it('the root entries and the Automerge ones do bundle Automerge and its wasm (what the check above looks for)', async () => {
    for (const entry of ['@murmur/client', '@murmur/client/automerge', '@murmur/shared']) {
      const b = await bundle(`export * from '${entry}'`)
      expect(b.inputs.some((i) => i.includes('@automerge/automerge')), entry).toBe(true)
      expect(b.outputs.some((o) => o.path.endsWith('.wasm')), entry).toBe(true)
    }
  }, 60_000)

  it('no product entry point imports the acceptance suites or their test libraries; the testing ones do', async () => {
    /** Test code an entry point (a built file) pulls in: its own modules, and the packages it imports. */
    const testCodeIn = async (file: string): Promise<string[]> => {
      const result = await build({
        entryPoints: [path.join(root, file)],
        bundle: true,
        write: false,
        metafile: true,
        format: 'esm',
        platform: 'node',
        // Packages (the workspace's own too) stay imports: each entry point is checked on its own.
        packages: 'external',
        outdir: path.join(root, 'bundle-out'),
        logLevel: 'silent',
      })
      const inputs = Object.keys(result.metafile.inputs)
      const externals = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))
      return [...inputs, ...externals].filter((p) => /vitest|fast-check|testing/.test(p))
    }
    const products = ['shared/dist/index.js', 'shared/dist/core.js', 'shared/dist/yjs.js', 'shared/dist/automerge.js']
    products.push('client/dist/index.js', 'client/dist/yjs.js', 'client/dist/automerge.js', 'server/dist/index.js')
    for (const file of products) expect(await testCodeIn(file), file).toEqual([])
    expect(await testCodeIn('server/dist/testing.js')).toContain('vitest')
    expect(await testCodeIn('shared/dist/testing.js')).toContain('fast-check')
  }, 60_000)

  it('the Yjs entries register the Yjs engine, and their client opens Yjs docs only', async () => {
    const yjs = await import('@murmur/shared/yjs')
    expect(yjs.isEngineName('yjs')).toBe(true)
    expect(yjs.getEngine('yjs')).toBe(yjs.yjsEngine)
    const client = await import('@murmur/client/yjs')
    expect(typeof client.createClient).toBe('function')
    expect(typeof client.YjsClient.prototype.yjs).toBe('function')
    expect('automerge' in client.YjsClient.prototype).toBe(false)
  })
})
