/**
 * The demo's rich-text document (TipTap on the SDK's Y.Doc) in real Chromium: two people type at once and
 * see each other's text and named carets; one goes offline, types, comes back, and both converge.
 */
import type { Page } from 'playwright-core'
import { describe, expect, test } from 'vitest'
import { startTestServer } from '../support/servers.js'
import { DEMO_DIST, createDoc, useChromium, openUser, screenshot, status, waitForStoredOutbox, waitForSynced } from './browser.js'

const browser = useChromium()

/** The rich text as shown, one line per block, without other people's carets and labels. */
const RICH_TEXT = `(() => {
  const root = document.querySelector('[data-testid=rich-text] .rt-content')
  if (root === null) return null
  const copy = root.cloneNode(true)
  copy.querySelectorAll('.collaboration-carets__caret').forEach((n) => n.remove())
  return [...copy.children].map((block) => block.textContent).join('\\n')
})()`

function richText(page: Page): Promise<string | null> {
  return page.evaluate(RICH_TEXT) as Promise<string | null>
}

async function waitForRichText(page: Page, expected: string, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(`${RICH_TEXT} === ${JSON.stringify(expected)}`, undefined, { timeout })
  } catch (err) {
    throw new Error(`rich text never became ${JSON.stringify(expected)}; it shows ${JSON.stringify(await richText(page))}`, { cause: err })
  }
}

function editable(page: Page) {
  return page.locator('[data-testid=rich-text] .rt-content')
}

/** Put the caret before everything: a click at the very start of the first block. */
async function caretAtStart(page: Page): Promise<void> {
  await page.locator('[data-testid=rich-text] .rt-content > *').first().click({ position: { x: 1, y: 4 } })
  await page.keyboard.press('Home')
}

/** Wait for the other person's caret, labelled with their name, in their colour. */
async function waitForCaret(page: Page, name: string, color: string): Promise<void> {
  const label = page.locator('[data-testid=rich-text] .collaboration-carets__label', { hasText: name })
  await label.waitFor({ state: 'attached' })
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16))
  expect(await label.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe(`rgb(${r}, ${g}, ${b})`)
}

describe('rich-text document (TipTap) in Chromium', () => {
  test('two people type at once: each sees the other\'s text, formatting and caret', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST })
    const alice = await openUser(browser(), `${node.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Design review')
    await editable(alice.page).click()
    await alice.page.keyboard.type('Agenda')
    await waitForSynced(alice.page)

    const bob = await openUser(browser(), `${node.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForRichText(bob.page, 'Agenda')

    // At the same moment: Alice types before everything, Bob after everything.
    const fromAlice = 'Alice first. '
    const fromBob = ' and Bob last.'
    await Promise.all([
      (async () => {
        await caretAtStart(alice.page)
        await alice.page.keyboard.type(fromAlice, { delay: 15 })
      })(),
      (async () => {
        await editable(bob.page).click()
        await bob.page.keyboard.press('Control+End')
        await bob.page.keyboard.type(fromBob, { delay: 15 })
      })(),
    ])
    const expected = `${fromAlice}Agenda${fromBob}`
    await Promise.all([waitForRichText(alice.page, expected), waitForRichText(bob.page, expected)])
    await Promise.all([waitForSynced(alice.page), waitForSynced(bob.page)])

    // Each sees the other's caret, with the name and colour of their presence.
    await waitForCaret(alice.page, 'Bob Heron', '#0284c7')
    await waitForCaret(bob.page, 'Alice Otter', '#e11d48')

    // Formatting travels too: a heading and bold text from Bob.
    await bob.page.keyboard.press('Enter')
    await bob.page.getByRole('button', { name: 'Heading 2' }).click()
    await bob.page.keyboard.type('Decisions')
    await bob.page.keyboard.press('Enter')
    await bob.page.keyboard.press('Control+b')
    await bob.page.keyboard.type('Ship it')
    await alice.page.locator('[data-testid=rich-text] h2', { hasText: 'Decisions' }).waitFor()
    await alice.page.locator('[data-testid=rich-text] strong', { hasText: 'Ship it' }).waitFor()
    await Promise.all([waitForRichText(alice.page, `${expected}\nDecisions\nShip it`), waitForRichText(bob.page, `${expected}\nDecisions\nShip it`)])
    await Promise.all([waitForSynced(alice.page), waitForSynced(bob.page)])
    await screenshot(alice.page, 'rich-text-alice')
    await screenshot(bob.page, 'rich-text-bob')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })

  test('one person goes offline, types, reloads (kept in IndexedDB), comes back: both converge', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST })
    const alice = await openUser(browser(), `${node.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Trip notes')
    await editable(alice.page).click()
    await alice.page.keyboard.type('Online.')
    await waitForSynced(alice.page)
    const bob = await openUser(browser(), `${node.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForRichText(bob.page, 'Online.')

    // The app shell is cached by the service worker, so the page can reload with no network at all.
    await alice.page.evaluate('navigator.serviceWorker.ready.then(() => true)')
    await alice.page.getByRole('switch', { name: 'Work offline' }).check()
    await alice.page.locator('[data-testid=status][data-status="offline"]').waitFor()
    await alice.context.setOffline(true)
    await editable(alice.page).click()
    await alice.page.keyboard.press('Control+End')
    await alice.page.keyboard.press('Enter')
    await alice.page.keyboard.type('Written on the train.')
    // Meanwhile Bob writes online, at the start.
    await caretAtStart(bob.page)
    await bob.page.keyboard.type('Bob: ')
    await waitForSynced(bob.page)
    await waitForRichText(alice.page, 'Online.\nWritten on the train.')
    await waitForRichText(bob.page, 'Bob: Online.')
    const before = await status(alice.page)
    expect(before.status).toBe('offline')
    expect(before.unsaved).toBeGreaterThan(0)
    await screenshot(alice.page, 'rich-text-offline')
    // Every unsaved edit is in IndexedDB: a reload without network brings the offline paragraph back.
    await waitForStoredOutbox(alice.page, before.unsaved)
    await alice.page.reload()
    await waitForRichText(alice.page, 'Online.\nWritten on the train.')
    expect(await status(alice.page)).toMatchObject({ status: 'offline', unsaved: before.unsaved })
    await waitForRichText(bob.page, 'Bob: Online.')

    await alice.context.setOffline(false)
    await alice.page.getByRole('switch', { name: 'Work offline' }).uncheck()
    const merged = 'Bob: Online.\nWritten on the train.'
    await Promise.all([waitForRichText(alice.page, merged), waitForRichText(bob.page, merged)])
    await Promise.all([waitForSynced(alice.page), waitForSynced(bob.page)])
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })
})
