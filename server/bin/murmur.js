#!/usr/bin/env node
// The `murmur` command. It is plain JavaScript so that npm can link it before anything is built (in a
// checkout, `npm install` builds dist/ afterwards); the CLI itself is compiled from src/cli.ts.
const cli = new URL('../dist/cli.js', import.meta.url)
try {
  await import(cli.href)
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && err.url === cli.href) {
    process.stderr.write('murmur: the server is not built (no dist/cli.js): run npm run build\n')
    process.exit(1)
  }
  throw err
}
