/**
 * A new user's afternoon: pack the packages as the README's Install section says, install the tarballs into
 * a fresh Vite + React + TypeScript app and a fresh Node app (offline, from npm's cache), type-check and
 * build both, start `murmur serve` from the installed server package, and sync a doc between the two
 * through it (the Vite app in Chromium).
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'
import { fencedBlocks } from '../support/markdown.js'
import { useChromium, openUser } from '../browser/browser.js'
import { offlineLock, type LocalTarball } from '../support/offline-lock.js'
import { tempDir } from '../support/servers.js'
import { within } from '../support/wait.js'

const run = promisify(execFile)
const repoRoot = path.resolve(import.meta.dirname, '../..')
const PACKAGES = [
  { name: '@murmur/shared', workspace: 'shared' },
  { name: '@murmur/client', workspace: 'client' },
  { name: '@murmur/react', workspace: 'react' },
  { name: '@murmur/server', workspace: 'server' },
] as const
/** What the app installs from the registry (through the cache), at the versions the repository uses. */
const REGISTRY_DEPS = ['react', 'react-dom', 'ws', 'vite', 'typescript', '@types/node', '@types/react', '@types/react-dom', '@types/ws']

interface Packed {
  name: string
  filename: string
  files: { path: string }[]
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } })
  return stdout
}

// Node and web apps of the packed tarballs only: no built demo needed.
const browser = useChromium([])

/** The Node app: writes a greeting into a Yjs doc, then waits for the web app's answer. */
const NODE_APP = `import WebSocket from 'ws'
import { createClient, MemoryStore } from '@murmur/client'

const [url, docId] = process.argv.slice(2)
const client = createClient({ url, WebSocket, store: new MemoryStore() })
const handle = client.yjs(docId)
const chat = handle.doc.getMap<string>('chat')
chat.set('node', 'hello from Node')
await handle.whenSynced()
console.log('synced')
const answer = await new Promise<string>((resolve) => {
  const check = (): void => {
    const value = chat.get('web')
    if (value !== undefined) resolve(value)
  }
  chat.observe(check)
  check()
})
console.log(\`web said: \${answer}\`)
await client.close()
`

/** The web app: shows the Node app's greeting and answers it. */
const WEB_APP = `import { StrictMode, Suspense } from 'react'
import { createRoot } from 'react-dom/client'
import { createClient } from '@murmur/client'
import { MurmurProvider, useSyncStatus, useYjsDoc, useYjsValue } from '@murmur/react'

const docId = new URL(location.href).searchParams.get('doc') ?? 'chat'
const client = createClient({ url: location.origin })

function Chat() {
  const handle = useYjsDoc(docId, { suspense: true })
  const fromNode = useYjsValue(handle, (doc) => doc.getMap<string>('chat').get('node') ?? '')
  const { status } = useSyncStatus(handle)
  return (
    <main>
      <p data-testid="from-node">{fromNode}</p>
      <p data-testid="status">{status}</p>
      <button onClick={() => handle.doc.getMap<string>('chat').set('web', 'hello from the browser')}>Answer</button>
    </main>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MurmurProvider client={client}>
      <Suspense fallback={<p>loading</p>}>
        <Chat />
      </Suspense>
    </MurmurProvider>
  </StrictMode>,
)
`

const TSCONFIG_NODE = { compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', types: ['node'], skipLibCheck: false }, include: ['src'] }
const TSCONFIG_WEB = {
  compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', jsx: 'react-jsx', strict: true, noEmit: true, lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: ['node'], skipLibCheck: false },
  include: ['src', 'vite.config.ts'],
}

describe('the packages, installed into fresh apps', () => {
  test('pack, install offline, type-check, build, and sync a Node app with a Vite React app through the installed murmur', { timeout: 360_000 }, async () => {
    const dir = tempDir('murmur-adopter-')
    const packDir = path.join(dir, 'packages')
    mkdirSync(packDir)

    // As the README says.
    const packed = JSON.parse(await npm(['pack', ...PACKAGES.flatMap((p) => ['-w', p.workspace]), '--pack-destination', packDir, '--json'], repoRoot)) as Packed[]
    const tarballs: LocalTarball[] = PACKAGES.map((p) => {
      const info = packed.find((x) => x.name === p.name)
      if (info === undefined) throw new Error(`npm pack made no ${p.name}`)
      const files = info.files.map((f) => f.path)
      expect(files, p.name).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']))
      expect(files.filter((f) => /\.map$|\.tsbuildinfo$|^src\/|\.test\./u.test(f)), p.name).toEqual([])
      const bytes = readFileSync(path.join(packDir, info.filename))
      return { ...p, file: `../packages/${info.filename}`, integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}` }
    })
    expect(packed.find((x) => x.name === '@murmur/server')?.files.map((f) => f.path)).toEqual(expect.arrayContaining(['bin/murmur.js', 'dist/cli.js']))
    for (const p of PACKAGES) {
      const manifest = JSON.parse(readFileSync(path.join(repoRoot, p.workspace, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>>; engines: { node: string } }
      expect(Object.keys(manifest.exports['.'])[0], `${p.name}: types first in exports`).toBe('types')
      expect(manifest.engines.node).toBe('>=22')
    }

    // One fresh app folder: the Node app in node/, the Vite app in web/, sharing node_modules.
    const app = path.join(dir, 'app')
    mkdirSync(path.join(app, 'node/src'), { recursive: true })
    mkdirSync(path.join(app, 'web/src'), { recursive: true })
    const { lock, dependencies } = offlineLock(repoRoot, 'murmur-adopter', REGISTRY_DEPS, tarballs)
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'murmur-adopter', version: '1.0.0', private: true, type: 'module', dependencies }, null, 2))
    writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify(lock, null, 2))
    // Install scripts stay off: the one native module (better-sqlite3) gets the binary the repository built.
    await npm(['ci', '--offline', '--ignore-scripts'], app)
    const native = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'
    mkdirSync(path.dirname(path.join(app, native)), { recursive: true })
    copyFileSync(path.join(repoRoot, native), path.join(app, native))

    writeFileSync(path.join(app, 'node/tsconfig.json'), JSON.stringify(TSCONFIG_NODE))
    writeFileSync(path.join(app, 'node/src/sync.ts'), NODE_APP)
    writeFileSync(path.join(app, 'web/tsconfig.json'), JSON.stringify(TSCONFIG_WEB))
    writeFileSync(path.join(app, 'web/src/main.tsx'), WEB_APP)
    writeFileSync(path.join(app, 'web/index.html'), '<!doctype html><html><head><link rel="icon" href="data:,"></head><body><div id="root"></div><script type="module" src="/src/main.tsx"></script></body></html>')
    // The Vite config exactly as the README gives it.
    const viteConfig = fencedBlocks('README.md').find((b) => b.code.startsWith('// vite.config.ts'))
    if (viteConfig === undefined) throw new Error('README.md has no vite.config.ts block')
    writeFileSync(path.join(app, 'web/vite.config.ts'), viteConfig.code)

    const bin = (name: string): string => path.join(app, 'node_modules/.bin', name)
    await run(bin('tsc'), ['-p', 'node/tsconfig.json'], { cwd: app })
    await run(bin('tsc'), ['-p', 'web/tsconfig.json'], { cwd: app })
    await run(bin('vite'), ['build', '--logLevel', 'error'], { cwd: path.join(app, 'web') })

    // The installed murmur, serving the built web app.
    const server = spawn(bin('murmur'), ['serve', '--anonymous', '--host', '127.0.0.1', '--port', '0', '--data-dir', path.join(dir, 'data'), '--static-dir', path.join(app, 'web/dist'), '--log-level', 'warn'], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve))
    try {
      const url = await within(
        new Promise<string>((resolve, reject) => {
          createInterface({ input: server.stdout }).on('line', (line) => {
            const m = /listening on (http:\/\/\S+)/u.exec(line)
            if (m !== null) resolve(m[1])
          })
          void exited.then((code) => reject(new Error(`murmur exited with ${code}`)))
        }),
        20_000,
        'murmur serve to listen',
      )
      const nodeApp = spawn(process.execPath, ['node/dist/sync.js', url, 'chat'], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] })
      const lines: string[] = []
      createInterface({ input: nodeApp.stdout }).on('line', (l) => lines.push(l))
      const nodeDone = new Promise<number | null>((resolve) => nodeApp.on('exit', resolve))

      const user = await openUser(browser(), `${url}/?doc=chat`, 'Ada', '#e11d48')
      await user.page.getByTestId('from-node').filter({ hasText: 'hello from Node' }).waitFor({ timeout: 20_000 })
      await user.page.getByRole('button', { name: 'Answer' }).click()
      expect(await within(nodeDone, 20_000, 'the Node app to hear the answer')).toBe(0)
      expect(lines).toEqual(['synced', 'web said: hello from the browser'])
      await user.page.getByTestId('status').filter({ hasText: 'saved' }).waitFor()
      expect(user.errors).toEqual([])
      // The page goes before its server, or its reconnect attempts are errors in its console.
      await user.context.close()
    } finally {
      server.kill('SIGTERM')
      await exited
    }
  })
})
