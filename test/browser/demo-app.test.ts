/**
 * The demo app in a real browser: two people editing at once (Yjs text, Automerge tasks), offline edits
 * that survive a reload, presence, and two nodes of a cluster. Each test starts its own node serving the built app; each person has their own browser
 * profile (IndexedDB, service worker). Screenshots go to test-artifacts/browser/.
 */
import { describe, expect, test } from 'vitest'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { startTestServer } from '../support/servers.js'
import {
  DEMO_DIST,
  addTask,
  createDoc,
  editorText,
  useChromium,
  openUser,
  presenceNames,
  screenshot,
  status,
  storedOutboxCount,
  tasksShown,
  typeAtEnd,
  waitForPresenceCount,
  waitForStoredOutbox,
  waitForSynced,
  waitForTasks,
  waitForText,
} from './browser.js'

const browser = useChromium()

describe('demo app in Chromium', () => {
  test('two people edit the same document at once, text and tasks, and end with the same document', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST })
    const alice = await openUser(browser(), `${node.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Launch plan')
    await typeAtEnd(alice.page, 'Agenda')
    await waitForSynced(alice.page)

    const bob = await openUser(browser(), `${node.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForText(bob.page, 'Agenda')
    expect(await bob.page.getByTestId('doc-title').inputValue()).toBe('Launch plan')
    await bob.page.locator(`[data-testid=doc-list] [data-doc-id="${docId}"]`).waitFor()

    // At the same moment: Alice types before everything, Bob after everything.
    const fromAlice = 'Alice: ship on Friday. '
    const fromBob = ' Bob: docs are ready.'
    await Promise.all([
      (async () => {
        await alice.page.locator('[data-testid=editor] .cm-content').click()
        await alice.page.keyboard.press('Control+Home')
        await alice.page.keyboard.type(fromAlice, { delay: 15 })
      })(),
      (async () => {
        await typeAtEnd(bob.page, fromBob, 15)
      })(),
    ])
    const expected = `${fromAlice}Agenda${fromBob}`
    await Promise.all([waitForText(alice.page, expected), waitForText(bob.page, expected)])
    await Promise.all([waitForSynced(alice.page), waitForSynced(bob.page)])
    expect(await editorText(alice.page)).toBe(await editorText(bob.page))

    // Each sees the other's caret, labelled with their name.
    await alice.page.locator('.cm-ySelectionInfo', { hasText: 'Bob Heron' }).waitFor({ state: 'attached' })
    await bob.page.locator('.cm-ySelectionInfo', { hasText: 'Alice Otter' }).waitFor({ state: 'attached' })

    // A rename shows up in the other's list and title.
    await alice.page.getByTestId('doc-title').fill('Launch plan (v2)')
    await bob.page.locator(`[data-testid=doc-list] [data-doc-id="${docId}"]`, { hasText: 'Launch plan (v2)' }).waitFor()
    await bob.page.waitForFunction(`document.querySelector('[data-testid=doc-title]').value === 'Launch plan (v2)'`)

    // The task board (Automerge) converges too: adds at the same moment, then a check and a move at once.
    await addTask(alice.page, 'Write changelog')
    await waitForTasks(bob.page, ['[ ] Write changelog'])
    await Promise.all([addTask(alice.page, 'Tag the release'), addTask(bob.page, 'Update the docs')])
    await alice.page.locator('[data-testid=task]').nth(2).waitFor()
    const three = await tasksShown(alice.page)
    expect(three[0]).toBe('[ ] Write changelog')
    expect(three.slice(1).sort()).toEqual(['[ ] Tag the release', '[ ] Update the docs'])
    await waitForTasks(bob.page, three)
    const [, middle, last] = three.map((t) => t.slice(4))
    await Promise.all([
      alice.page.getByRole('checkbox', { name: 'Done: Write changelog' }).check(),
      bob.page.getByRole('button', { name: `Move up: ${last}` }).click(),
    ])
    const moved = ['[x] Write changelog', `[ ] ${last}`, `[ ] ${middle}`]
    await Promise.all([waitForTasks(alice.page, moved), waitForTasks(bob.page, moved)])
    await Promise.all([waitForSynced(alice.page), waitForSynced(bob.page)])
    await screenshot(alice.page, 'collab-alice')
    await screenshot(bob.page, 'collab-bob')

    await bob.page.getByRole('button', { name: `Delete: ${middle}` }).click()
    const afterDelete = ['[x] Write changelog', `[ ] ${last}`]
    await Promise.all([waitForTasks(alice.page, afterDelete), waitForTasks(bob.page, afterDelete)])
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })

  test('offline edits survive a reload without network and reach the other person when back online', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST })
    const alice = await openUser(browser(), `${node.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Field notes')
    await typeAtEnd(alice.page, 'Online line.')
    await addTask(alice.page, 'Book the train')
    await waitForSynced(alice.page)
    const bob = await openUser(browser(), `${node.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForText(bob.page, 'Online line.')
    await waitForTasks(bob.page, ['[ ] Book the train'])

    // The app shell is cached by the service worker, so the page can load with no network at all.
    await alice.page.evaluate('navigator.serviceWorker.ready.then(() => true)')

    // Alice switches to "Work offline" and the browser loses the network too.
    const workOffline = alice.page.getByRole('switch', { name: 'Work offline' })
    await workOffline.check()
    await alice.page.locator('[data-testid=status][data-status="offline"]').waitFor()
    await alice.context.setOffline(true)
    // This probe's failure is the one network error the page may report.
    alice.allowConsole(/ERR_INTERNET_DISCONNECTED \(http:\/\/[^/]+\/healthz:/u)
    expect(await alice.page.evaluate(`fetch('/healthz').then(() => 'reached', () => 'unreachable')`)).toBe('unreachable')

    const offlineText = '\nWritten on the train.'
    await typeAtEnd(alice.page, offlineText)
    await alice.page.getByRole('checkbox', { name: 'Done: Book the train' }).check()
    await addTask(alice.page, 'Sketch the slides')
    const offlineTasks = ['[x] Book the train', '[ ] Sketch the slides']
    const before = await status(alice.page)
    expect(before.status).toBe('offline')
    // One change per keystroke, one for the check, one for the new task.
    expect(before.unsaved).toBe(offlineText.length + 2)
    expect(before.text).toContain(`${before.unsaved} unsaved`)
    // Every unsaved edit is in IndexedDB before the reload.
    await waitForStoredOutbox(alice.page, before.unsaved)
    await screenshot(alice.page, 'offline-editing')

    const reloaded = await alice.page.reload()
    expect(reloaded?.fromServiceWorker()).toBe(true)
    await waitForText(alice.page, `Online line.${offlineText}`)
    await waitForTasks(alice.page, offlineTasks)
    const afterReload = await status(alice.page)
    expect(afterReload).toMatchObject({ status: 'offline', unsaved: before.unsaved })
    expect(await storedOutboxCount(alice.page)).toBe(before.unsaved)
    expect(await workOffline.isChecked()).toBe(true)
    // Nothing left Alice's browser: Bob still has the old text.
    expect(await editorText(bob.page)).toBe('Online line.')
    expect(await tasksShown(bob.page)).toEqual(['[ ] Book the train'])
    await screenshot(alice.page, 'offline-after-reload')

    await alice.context.setOffline(false)
    await workOffline.uncheck()
    await waitForText(bob.page, `Online line.${offlineText}`)
    await waitForTasks(bob.page, offlineTasks)
    await waitForSynced(alice.page)
    expect((await status(alice.page)).unsaved).toBe(0)
    expect(await storedOutboxCount(alice.page)).toBe(0)
    await screenshot(alice.page, 'back-online-alice')
    await screenshot(bob.page, 'back-online-bob')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })

  test('presence shows both people and drops one who closes the tab', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST })
    const alice = await openUser(browser(), `${node.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Standup')
    await waitForPresenceCount(alice.page, 1)
    expect(await presenceNames(alice.page)).toEqual(['Alice Otter'])

    const bob = await openUser(browser(), `${node.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7', { width: 390, height: 844 })
    await Promise.all([waitForPresenceCount(alice.page, 2), waitForPresenceCount(bob.page, 2)])
    expect(await presenceNames(alice.page)).toEqual(['Alice Otter', 'Bob Heron'])
    // You come first in your own bar.
    expect(await presenceNames(bob.page)).toEqual(['Bob Heron', 'Alice Otter'])
    await typeAtEnd(bob.page, 'Bob on a phone')
    await waitForText(alice.page, 'Bob on a phone')
    await screenshot(alice.page, 'presence-both')
    await screenshot(bob.page, 'presence-both-phone')

    await bob.page.close()
    await waitForPresenceCount(alice.page, 1)
    expect(await presenceNames(alice.page)).toEqual(['Alice Otter'])
    await screenshot(alice.page, 'presence-after-close')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })
  test('on a node that checks tokens, the app syncs with the token given as ?token= and keeps it out of the URL', async () => {
    const node = await startTestServer({ staticDir: DEMO_DIST, authSecret: AUTH_SECRET })
    const jwt = await token({ '*': 'write' })
    const alice = await openUser(browser(), `${node.url}/?token=${encodeURIComponent(jwt)}`, 'Alice Otter', '#e11d48')
    expect(alice.page.url()).not.toContain('token=')
    const docId = await createDoc(alice.page, 'Signed in')
    await typeAtEnd(alice.page, 'Only with a token.')
    await waitForSynced(alice.page)
    // The node has it: read it back over the HTTP API with the same token.
    const res = await fetch(`${node.url}/v1/docs/yjs/${encodeURIComponent(docId)}`, { headers: { authorization: `Bearer ${jwt}` } })
    expect(res.status).toBe(200)
    expect(JSON.stringify(await res.json())).toContain('Only with a token.')
    // The tab keeps the token across a reload.
    await alice.page.reload()
    await waitForText(alice.page, 'Only with a token.')
    await waitForSynced(alice.page)
    expect(alice.errors).toEqual([])
  })
})

describe('demo app on a cluster', () => {
  test('two people on two different nodes edit at once and converge; one switches node', async () => {
    const [a, b] = await startCluster(2, { staticDir: DEMO_DIST })
    await untilMeshed([a, b])
    const alice = await openUser(browser(), `${a.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Across the cluster')
    await typeAtEnd(alice.page, 'Agenda')
    await waitForSynced(alice.page)

    // Bob opens the page from node b, so his app syncs through node b.
    const bob = await openUser(browser(), `${b.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForText(bob.page, 'Agenda')
    await alice.page.locator('[data-testid=node-picker][data-connected-node="node-a"]').waitFor()
    await bob.page.locator('[data-testid=node-picker][data-connected-node="node-b"]').waitFor()
    // The list of documents (itself a doc) reached node b too.
    await bob.page.locator(`[data-testid=doc-list] [data-doc-id="${docId}"]`, { hasText: 'Across the cluster' }).waitFor()

    const fromAlice = 'Alice on node a. '
    const fromBob = ' Bob on node b.'
    await Promise.all([
      (async () => {
        await alice.page.locator('[data-testid=editor] .cm-content').click()
        await alice.page.keyboard.press('Control+Home')
        await alice.page.keyboard.type(fromAlice, { delay: 15 })
      })(),
      typeAtEnd(bob.page, fromBob, 15),
    ])
    const expected = `${fromAlice}Agenda${fromBob}`
    await Promise.all([waitForText(alice.page, expected), waitForText(bob.page, expected)])
    // Tasks added at the same moment through two nodes end in the same order on both screens.
    await Promise.all([addTask(alice.page, 'Check node a'), addTask(bob.page, 'Check node b')])
    await alice.page.locator('[data-testid=task]').nth(1).waitFor()
    const tasks = await tasksShown(alice.page)
    expect([...tasks].sort()).toEqual(['[ ] Check node a', '[ ] Check node b'])
    await waitForTasks(bob.page, tasks)
    await Promise.all([waitForSynced(alice.page), waitForSynced(bob.page)])
    await screenshot(bob.page, 'cluster-bob-on-node-b')

    // Bob's menu lists both nodes (from /v1/cluster); he moves to node a and keeps editing.
    const nodeSelect = bob.page.getByTestId('node-select')
    await bob.page.locator('[data-testid=node-select] option').nth(1).waitFor({ state: 'attached' })
    expect(await nodeSelect.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value).sort())).toEqual([a.url, b.url].sort())
    await nodeSelect.selectOption(a.url)
    await bob.page.locator('[data-testid=node-picker][data-connected-node="node-a"]').waitFor()
    await waitForText(bob.page, expected)
    await typeAtEnd(bob.page, ' Now via node a.')
    await bob.page.getByRole('checkbox', { name: 'Done: Check node b' }).check()
    await waitForText(alice.page, `${expected} Now via node a.`)
    await waitForTasks(alice.page, tasks.map((t) => (t === '[ ] Check node b' ? '[x] Check node b' : t)))
    await waitForSynced(bob.page)
    await screenshot(bob.page, 'cluster-bob-switched-to-node-a')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  })
  test('the node a person is on stops: the app moves to another member, shows it, and the edits get through', async () => {
    const [a, b] = await startCluster(2, { staticDir: DEMO_DIST })
    await untilMeshed([a, b])
    const alice = await openUser(browser(), `${a.url}/`, 'Alice Otter', '#e11d48')
    const docId = await createDoc(alice.page, 'Failover')
    await typeAtEnd(alice.page, 'Before.')
    await waitForSynced(alice.page)
    // Bob's page and client come from node b; the node menu lists both members, and the client gets them.
    const bob = await openUser(browser(), `${b.url}/#/doc/${encodeURIComponent(docId)}`, 'Bob Heron', '#0284c7')
    await waitForText(bob.page, 'Before.')
    await bob.page.locator('[data-testid=node-picker][data-connected-node="node-b"]').waitFor()
    await bob.page.locator('[data-testid=node-select] option').nth(1).waitFor({ state: 'attached' })
    // Node b goes away: Chromium reports the refused socket and requests while the client leaves it.
    bob.allowConsole(new RegExp(`${b.url.replace('http://', '')}.*(ERR_CONNECTION_REFUSED|failed)`, 'u'))
    await b.close()
    await bob.page.locator(`[data-testid=node-picker][data-connected-node="node-a"][data-node-url="${a.url}"]`).waitFor({ timeout: 20_000 })
    expect(await bob.page.getByTestId('node-select').inputValue()).toBe(a.url)
    await typeAtEnd(bob.page, ' After, via node a.')
    await waitForText(alice.page, 'Before. After, via node a.')
    await waitForSynced(bob.page)
    await screenshot(bob.page, 'cluster-bob-failed-over-to-node-a')
    expect([...alice.errors, ...bob.errors]).toEqual([])
  }, 120_000)
})
