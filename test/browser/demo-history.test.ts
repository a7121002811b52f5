/**
 * The demo's history panel in a real browser: name a version, type, preview the version (what changed
 * since highlighted), restore it, and see the restored text in a second person's page.
 */
import { describe, expect, test } from 'vitest'
import { startTestServer } from '../support/servers.js'
import { DEMO_DIST, createDoc, useChromium, openUser, screenshot, typeAtEnd, waitForSynced, waitForText } from './browser.js'

const browser = useChromium()

describe('demo app: version history', () => {
  test('name a version, type, preview and restore it; a second page shows the restored text', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST })
    const alice = await openUser(browser(), `${node.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'History demo')
    await typeAtEnd(alice.page, 'Approved wording.')
    await waitForSynced(alice.page)

    const history = alice.page.getByTestId('history')
    await history.getByTestId('version-name').fill('Approved')
    await history.getByTestId('name-version').click()
    const item = history.locator('.history-item', { hasText: 'Approved' })
    await item.waitFor()

    const bob = await openUser(browser(), `${node.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForText(bob.page, 'Approved wording.')
    await typeAtEnd(alice.page, ' Risky edit.')
    await waitForText(bob.page, 'Approved wording. Risky edit.')
    await waitForSynced(alice.page)

    // Bob previews the version: the text as it was, with what was added since marked.
    await bob.page.getByTestId('refresh-history').click()
    await bob.page.locator('.history-item', { hasText: 'Approved' }).click()
    const preview = bob.page.getByTestId('version-preview')
    await preview.locator('ins', { hasText: 'Risky edit.' }).waitFor()
    expect(await preview.textContent()).toBe('Approved wording. Risky edit.')
    await screenshot(bob.page, 'history-preview')

    // Alice restores it: both editors show the restored text.
    await item.click()
    await alice.page.getByTestId('restore-version').click()
    await Promise.all([waitForText(alice.page, 'Approved wording.'), waitForText(bob.page, 'Approved wording.')])
    // The restore left a version of what was there, so it can be undone.
    await history.locator('.history-item', { hasText: 'Before restoring Approved' }).waitFor()
    await screenshot(alice.page, 'history-restored')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })
})
