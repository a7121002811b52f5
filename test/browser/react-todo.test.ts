/**
 * The React example (examples/react-todo, built with Vite) in Chromium: two people's pages converge, and
 * edits made offline survive a reload and reach the others once back online.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, test } from 'vitest'
import { startTestServer } from '../support/servers.js'
import { useChromium, openUser, screenshot, storedOutboxCount } from './browser.js'

const EXAMPLE_DIST = path.resolve(import.meta.dirname, '../../examples/react-todo/dist')

const browser = useChromium([EXAMPLE_DIST])

/** The list as shown: "[x] title" for a done todo, "[ ] title" otherwise. */
const TODOS = `[...document.querySelectorAll('[data-testid=todo]')].map((li) =>
  (li.querySelector('input[type=checkbox]').checked ? '[x] ' : '[ ] ') + li.querySelector('.title').textContent)`

async function waitForTodos(page: Page, expected: readonly string[], timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(`JSON.stringify(${TODOS}) === ${JSON.stringify(JSON.stringify(expected))}`, undefined, { timeout })
  } catch (err) {
    throw new Error(`the list never showed ${JSON.stringify(expected)}; it shows ${JSON.stringify(await page.evaluate(TODOS))}`, { cause: err })
  }
}

async function addTodo(page: Page, title: string): Promise<void> {
  const input = page.getByTestId('new-todo')
  await input.fill(title)
  await input.press('Enter')
  await page.locator('[data-testid=todo] .title', { hasText: title }).first().waitFor()
}

function waitForStatus(page: Page, status: string, unsaved: number, timeout = 15_000): Promise<void> {
  return page.locator(`[data-testid=status][data-status="${status}"][data-unsaved="${unsaved}"]`).waitFor({ timeout })
}

describe('React todo example in Chromium', () => {
  test('two pages edit the same list at once and converge', async () => {
    const node = await startTestServer({ staticDir: EXAMPLE_DIST })
    const url = `${node.url}/?list=groceries`
    const alice = await openUser(browser(), url, 'Alice', '#e11d48')
    const bob = await openUser(browser(), url, 'Bob', '#0284c7')
    await Promise.all([waitForStatus(alice.page, 'saved', 0), waitForStatus(bob.page, 'saved', 0)])
    await Promise.all([bob.page.locator('[data-testid=people][data-count="1"]').waitFor(), alice.page.locator('[data-testid=people][data-count="1"]').waitFor()])

    await Promise.all([addTodo(alice.page, 'Milk'), addTodo(bob.page, 'Eggs')])
    // Each page orders by the time a todo was added; both end with the same list.
    await alice.page.waitForFunction(`${TODOS}.length === 2`)
    const shown = (await alice.page.evaluate(TODOS)) as string[]
    expect([...shown].sort()).toEqual(['[ ] Eggs', '[ ] Milk'])
    await waitForTodos(bob.page, shown)

    await bob.page.locator('[data-testid=todo]', { hasText: 'Milk' }).getByRole('checkbox').check()
    const done = shown.map((t) => (t === '[ ] Milk' ? '[x] Milk' : t))
    await Promise.all([waitForTodos(alice.page, done), waitForTodos(bob.page, done)])
    await Promise.all([waitForStatus(alice.page, 'saved', 0), waitForStatus(bob.page, 'saved', 0)])
    await screenshot(alice.page, 'react-todo-converged')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })

  test('edits made offline survive a reload and reach the other page once back online', async () => {
    const node = await startTestServer({ staticDir: EXAMPLE_DIST })
    const url = `${node.url}/?list=trip`
    const alice = await openUser(browser(), url, 'Alice', '#e11d48')
    const bob = await openUser(browser(), url, 'Bob', '#0284c7')
    await addTodo(alice.page, 'Book the train')
    await waitForStatus(alice.page, 'saved', 0)
    await waitForTodos(bob.page, ['[ ] Book the train'])

    await alice.page.getByTestId('work-offline').check()
    await waitForStatus(alice.page, 'offline', 0)
    await addTodo(alice.page, 'Pack the tent')
    await alice.page.locator('[data-testid=todo]', { hasText: 'Book the train' }).getByRole('checkbox').check()
    await waitForStatus(alice.page, 'offline', 2)
    // Both edits are in IndexedDB before the reload.
    await alice.page.waitForFunction(`new Promise((resolve) => {
      const open = indexedDB.open('murmur')
      open.onsuccess = () => {
        const count = open.result.transaction('outbox').objectStore('outbox').count()
        count.onsuccess = () => { open.result.close(); resolve(count.result === 2) }
      }
    })`)

    await alice.page.reload()
    await waitForTodos(alice.page, ['[x] Book the train', '[ ] Pack the tent'])
    await waitForStatus(alice.page, 'offline', 2)
    expect(await storedOutboxCount(alice.page)).toBe(2)
    // Nothing of it reached Bob.
    expect(await bob.page.evaluate(TODOS)).toEqual(['[ ] Book the train'])

    await alice.page.getByTestId('work-offline').uncheck()
    await waitForStatus(alice.page, 'saved', 0)
    await waitForTodos(bob.page, ['[x] Book the train', '[ ] Pack the tent'])
    expect(await storedOutboxCount(alice.page)).toBe(0)
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })
})
