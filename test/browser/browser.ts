/**
 * Driving the demo app in Debian's Chromium through playwright-core. Nothing here downloads a browser.
 *
 * Functions that run in the page are passed as strings: the test runner's transform may add helpers
 * (e.g. for function names) that do not exist inside the page.
 */
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, onTestFinished } from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')

/** The built app (`npm run build` / `npm test` build it before the tests run). */
export const DEMO_DIST = path.join(repoRoot, 'demo-app/dist')

/** Screenshots land here (gitignored). */
export const ARTIFACTS = path.join(repoRoot, 'test-artifacts/browser')

export const CHROMIUM = process.env.MURMUR_CHROMIUM ?? '/usr/bin/chromium'

/** Throws, naming the fix, unless Chromium is there and each app in `dists` is built. */
function assertBuilt(dists: readonly string[] = [DEMO_DIST]): void {
  for (const dist of dists) {
    if (!existsSync(path.join(dist, 'index.html'))) throw new Error(`${path.relative(repoRoot, dist)} is not built: run npm run build`)
  }
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run does)`)
}

function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

/**
 * One Chromium for the test file: launched before its first test, once the apps it serves (`needs`, the
 * demo app by default) are found built, and closed after its last. Returns what the tests call to get it.
 */
export function useChromium(needs: readonly string[] = [DEMO_DIST]): () => Browser {
  let browser: Browser | undefined
  beforeAll(async () => {
    assertBuilt(needs)
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  return () => {
    if (browser === undefined) throw new Error('Chromium did not start (see the error of beforeAll)')
    return browser
  }
}

export interface User {
  readonly name: string
  readonly context: BrowserContext
  readonly page: Page
  /** Uncaught errors the page threw; a test ends by checking there were none. */
  readonly errors: string[]
  /**
   * Console messages of this page at warning level or above. Any one fails the test when it finishes,
   * unless it matches a pattern passed to `allowConsole` (a message the test causes on purpose, such as
   * Chromium's report of a refused socket while a node is down).
   */
  readonly console: string[]
  allowConsole(pattern: RegExp): void
}

/** Fail the running test, when it finishes, on console warnings or errors of `page` not allowed. */
export function failOnConsoleProblems(page: Page, name: string): Pick<User, 'console' | 'allowConsole'> {
  const messages: string[] = []
  const allowed: RegExp[] = []
  page.on('console', (msg) => {
    const type = msg.type()
    if (type !== 'warning' && type !== 'error' && type !== 'assert') return
    const where = msg.location()
    messages.push(`${name}: console.${type}: ${msg.text()}${where.url ? ` (${where.url}:${where.lineNumber})` : ''}`)
  })
  onTestFinished(({ task }) => {
    const problems = messages.filter((m) => !allowed.some((p) => p.test(m)))
    // A test that failed already says why; its console is printed, not thrown.
    if (problems.length === 0) return
    if (task.result?.state === 'fail') console.warn(problems.join('\n'))
    else throw new Error(`browser console warnings or errors:\n${problems.join('\n')}`)
  })
  return { console: messages, allowConsole: (p) => void allowed.push(p) }
}

const DESKTOP = { width: 1360, height: 820 }

/**
 * A person with their own browser profile (own IndexedDB, own service worker), named `name` in presence.
 * The context closes when the test finishes.
 */
export async function openUser(browser: Browser, url: string, name: string, color: string, viewport = DESKTOP): Promise<User> {
  const context = await browser.newContext({ viewport })
  onTestFinished(() => context.close())
  // The app picks a random name on first run; give it a known one instead (the app reads it on load).
  await context.addInitScript(
    `if (localStorage.getItem('murmur-demo:identity') === null) localStorage.setItem('murmur-demo:identity', ${JSON.stringify(JSON.stringify({ name, color }))})`,
  )
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`))
  const consoleCheck = failOnConsoleProblems(page, name)
  await page.goto(url)
  return { name, context, page, errors, ...consoleCheck }
}

/** The editor's text as shown: every line, without remote carets, name labels or the placeholder. */
const EDITOR_TEXT = `(() => {
  const lines = [...document.querySelectorAll('[data-testid=editor] .cm-line')]
  return lines.map((line) => {
    const copy = line.cloneNode(true)
    copy.querySelectorAll('.cm-ySelectionCaret, .cm-placeholder, .cm-widgetBuffer').forEach((n) => n.remove())
    return copy.textContent
  }).join('\\n')
})()`

export function editorText(page: Page): Promise<string> {
  return page.evaluate(EDITOR_TEXT) as Promise<string>
}

/** Wait until the editor shows exactly `expected`. */
export async function waitForText(page: Page, expected: string, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(`${EDITOR_TEXT} === ${JSON.stringify(expected)}`, undefined, { timeout })
  } catch (err) {
    throw new Error(`editor text never became ${JSON.stringify(expected)}; it shows ${JSON.stringify(await editorText(page))}`, { cause: err })
  }
}

/** The status badge: state and unsaved count, as the page shows them. */
export async function status(page: Page): Promise<{ status: string; unsaved: number; text: string }> {
  const badge = page.getByTestId('status')
  const [s, u, text] = await Promise.all([badge.getAttribute('data-status'), badge.getAttribute('data-unsaved'), badge.textContent()])
  return { status: s ?? '', unsaved: Number(u), text: (text ?? '').trim() }
}

/** Wait for the badge to say synced with nothing unsaved. */
export function waitForSynced(page: Page, timeout = 15_000): Promise<void> {
  return page.locator('[data-testid=status][data-status="synced"][data-unsaved="0"]').waitFor({ timeout })
}

/** Names in the presence bar, as shown. */
export async function presenceNames(page: Page): Promise<string[]> {
  return page.locator('[data-testid=presence] [data-user]').evaluateAll((els) => els.map((e) => e.getAttribute('data-user') ?? ''))
}

export function waitForPresenceCount(page: Page, count: number, timeout = 15_000): Promise<void> {
  return page.locator(`[data-testid=presence][data-count="${count}"]`).waitFor({ timeout })
}

/** Local edits in this profile's IndexedDB outbox (written, not yet acknowledged), all docs together. */
const OUTBOX_COUNT = `new Promise((resolve) => {
  const open = indexedDB.open('murmur')
  open.onerror = () => resolve(-1)
  open.onsuccess = () => {
    const db = open.result
    if (!db.objectStoreNames.contains('outbox')) { db.close(); resolve(0); return }
    const count = db.transaction('outbox').objectStore('outbox').count()
    count.onsuccess = () => { db.close(); resolve(count.result) }
    count.onerror = () => { db.close(); resolve(-1) }
  }
})`

export function storedOutboxCount(page: Page): Promise<number> {
  return page.evaluate(OUTBOX_COUNT) as Promise<number>
}

/** Wait until the IndexedDB outbox holds exactly `count` edits. */
export async function waitForStoredOutbox(page: Page, count: number, timeout = 10_000): Promise<void> {
  await page.waitForFunction(`${OUTBOX_COUNT}.then((n) => n === ${count})`, undefined, { timeout, polling: 50 })
}

/** The task board as shown, in order: "[x] title" for a done task, "[ ] title" otherwise. */
const TASKS = `[...document.querySelectorAll('[data-testid=task]')].map((li) =>
  (li.querySelector('input[type=checkbox]').checked ? '[x] ' : '[ ] ') + li.querySelector('.task-title').textContent)`

export function tasksShown(page: Page): Promise<string[]> {
  return page.evaluate(TASKS) as Promise<string[]>
}

/** Wait until the task board shows exactly `expected`. */
export async function waitForTasks(page: Page, expected: readonly string[], timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(`JSON.stringify(${TASKS}) === ${JSON.stringify(JSON.stringify(expected))}`, undefined, { timeout })
  } catch (err) {
    throw new Error(`task board never showed ${JSON.stringify(expected)}; it shows ${JSON.stringify(await tasksShown(page))}`, { cause: err })
  }
}

/** Add a task through the form; resolves once it is on the board. */
export async function addTask(page: Page, title: string): Promise<void> {
  const input = page.getByTestId('task-input')
  await input.fill(title)
  await input.press('Enter')
  await page.locator('[data-testid=task] .task-title', { hasText: title }).first().waitFor()
}

/** Create a document from the sidebar and give it a title; resolves with its id (from the URL). */
export async function createDoc(page: Page, title: string): Promise<string> {
  await page.getByTestId('new-doc').click()
  const titleField = page.getByTestId('doc-title')
  await titleField.waitFor()
  await titleField.fill(title)
  await titleField.press('Enter')
  const m = /#\/doc\/(.+)$/u.exec(page.url())
  if (m === null) throw new Error(`no doc id in ${page.url()}`)
  return decodeURIComponent(m[1])
}

/** Type at the end of the shared text. */
export async function typeAtEnd(page: Page, text: string, delay = 0): Promise<void> {
  await page.locator('[data-testid=editor] .cm-content').click()
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text, { delay })
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const file = path.join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path: file })
  return file
}
