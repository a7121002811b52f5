import { defineConfig, type Plugin } from 'vite'

/** The node `npm run dev` proxies the sync socket to. */
const NODE_URL = process.env.MURMUR_URL ?? 'http://127.0.0.1:4321'

/**
 * Automerge (which the SDK carries for its Automerge docs) loads its wasm through an ES-module import in
 * its `browser` entry, which Vite cannot bundle without a plugin. Its base64 entry carries the same wasm
 * inline: use that one, and call its `initSync` the current way (the old way logs a warning).
 */
function automergeInlineWasm(): Plugin {
  return {
    name: 'automerge-inline-wasm',
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

export default defineConfig({
  plugins: [automergeInlineWasm()],
  resolve: { dedupe: ['yjs', 'y-protocols', 'lib0', 'react', 'react-dom'] },
  optimizeDeps: { exclude: ['@automerge/automerge'] },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { proxy: { '/sync': { target: NODE_URL, ws: true } } },
})
