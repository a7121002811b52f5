import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { defineConfig, transformWithEsbuild, type Plugin } from 'vite'

/** The node `npm run dev` proxies the sync socket and the HTTP API to. */
const NODE_URL = process.env.MURMUR_URL ?? 'http://127.0.0.1:4321'

/**
 * Automerge's `browser` entry imports its .wasm file as an ES module, which needs a bundler plugin. Its
 * base64 entry carries the same wasm inline and instantiates it synchronously; use that one instead, and
 * call its `initSync` the current way (the old one logs a deprecation warning on every page load).
 */
function automergeInlineWasm(): Plugin {
  return {
    name: 'murmur:automerge-inline-wasm',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (!source.startsWith('@automerge/automerge')) return null
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
      if (resolved === null) return null
      return { ...resolved, id: resolved.id.replace(/fullfat_bundler(_next)?\.js(?=$|\?)/u, (_m, next?: string) => (next ? 'fullfat_next_base64.js' : 'fullfat_base64.js')) }
    },
    transform(code, id) {
      if (!/@automerge[\\/]automerge[\\/].*wasm_bindgen_output[\\/]web[\\/]index\.js$/u.test(id)) return null
      // The edit keeps every line where it was, so the incoming source map stays right.
      return { code: code.replace('initSync(wasmBlob)', 'initSync({ module: wasmBlob })'), map: null }
    },
  }
}

/** Build sw/service-worker.ts into /sw.js with the list of files to keep for offline use. */
function serviceWorker(): Plugin {
  const source = fileURLToPath(new URL('./sw/service-worker.ts', import.meta.url))
  return {
    name: 'murmur:service-worker',
    apply: 'build',
    async generateBundle(_options, bundle) {
      const files = Object.keys(bundle)
        // The .wasm file Vite emits for Automerge's async loader goes unused: the inline copy is the one loaded.
        .filter((f) => f !== 'index.html' && f !== 'admin.html' && !f.endsWith('.map') && !f.endsWith('.wasm'))
        .map((f) => `/${f}`)
        .sort()
      files.push('/favicon.svg')
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 12)
      const { code } = await transformWithEsbuild(await readFile(source, 'utf8'), source, { loader: 'ts', format: 'iife', minify: true, target: 'es2022' })
      const placeholder = '__MURMUR_PRECACHE__'
      if (!code.includes(placeholder)) throw new Error('service worker: precache placeholder not found')
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: code.replace(placeholder, JSON.stringify({ version, files })) })
    },
  }
}

export default defineConfig({
  plugins: [automergeInlineWasm(), serviceWorker()],
  resolve: {
    // One copy of each: two Yjs instances would not recognise each other's types.
    dedupe: ['yjs', 'y-protocols', 'lib0', '@codemirror/state', '@codemirror/view'],
  },
  optimizeDeps: {
    exclude: ['@automerge/automerge'],
  },
  build: {
    target: 'es2022',
    sourcemap: true,
    // The Automerge engine (wasm inline) is ~2.5 MB on its own; it is cached by the service worker.
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      // The app, and the operators' admin page (`/admin.html`, GET /v1/admin/cluster polled live).
      input: { main: fileURLToPath(new URL('./index.html', import.meta.url)), admin: fileURLToPath(new URL('./admin.html', import.meta.url)) },
      output: {
        manualChunks(id) {
          if (id.includes('/@automerge/')) return 'automerge'
          // Keyboard names, used by both editors: a chunk of their own, so neither editor's chunk imports the other's.
          if (id.includes('/w3c-keyname/')) return 'keys'
          if (id.includes('/@codemirror/') || id.includes('/@lezer/') || id.includes('/y-codemirror')) return 'codemirror'
          if (id.includes('/@tiptap/') || id.includes('/prosemirror-') || id.includes('/orderedmap/') || id.includes('/rope-sequence/')) return 'tiptap'
          return undefined
        },
      },
    },
  },
  server: {
    proxy: {
      '/sync': { target: NODE_URL, ws: true },
      '/yjs': { target: NODE_URL, ws: true },
      '/v1': NODE_URL,
      '/healthz': NODE_URL,
    },
  },
})
