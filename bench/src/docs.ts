#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeDocs, type RunRecord } from './lib/docs.js'

/**
 * `node bench/dist/docs.js [bench/results/latest.json]`: write a run's results into docs/performance.md
 * (between its markers) and its charts into docs/perf/, as `npm run bench -- --docs` does after a run.
 */
const here = path.dirname(fileURLToPath(import.meta.url))
const file = process.argv[2] ?? path.resolve(here, '../results/latest.json')
const run = JSON.parse(readFileSync(file, 'utf8')) as RunRecord
for (const written of writeDocs(run, path.resolve(here, '../../docs'))) process.stdout.write(`wrote ${path.relative(process.cwd(), written)}\n`)
