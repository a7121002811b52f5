/**
 * The demo app's admin page in Chromium, served by one node of a three-node cluster: it shows the three
 * nodes alive, and a doc a client holds open on another node with its connection, live.
 */
import { describe, expect, test, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { SignJWT } from 'jose'
import { AUTH_SECRET, token } from '../support/auth.js'
import { startCluster, untilMeshed } from '../support/cluster.js'
import { wsUrl } from '../support/servers.js'
import { DEMO_DIST, openUser, screenshot, useChromium } from './browser.js'

const browser = useChromium()

function adminToken(): Promise<string> {
  return new SignJWT({ murmur: { admin: true } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('operator')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(AUTH_SECRET))
}

describe('admin page', () => {
  test('renders the cluster’s three nodes and a doc open on one of them, live', async () => {
    const nodes = await startCluster(3, { staticDir: DEMO_DIST, authSecret: AUTH_SECRET })
    await untilMeshed(nodes)
    const { page } = await openUser(browser(), `${nodes[0].url}/admin.html?token=${await adminToken()}`, 'Operator', '#334155')

    for (const id of ['node-a', 'node-b', 'node-c']) {
      await page.locator(`[data-testid=admin-node][data-node-id="${id}"][data-state=alive]`).waitFor({ timeout: 15_000 })
    }
    expect(await page.getByTestId('admin-node').count()).toBe(3)
    // The token left the address bar.
    expect(new URL(page.url()).searchParams.has('token')).toBe(false)

    // A client opens a doc on node c: the page shows it there with one connection, without a reload.
    const ws = new WebSocket(wsUrl(nodes[2].url, `/yjs/roadmap?token=${await token({ '*': 'write' })}`))
    onTestFinished(() => ws.terminate())
    await new Promise((resolve) => ws.once('message', resolve))
    const row = page.locator('[data-testid=admin-node][data-node-id="node-c"] [data-testid=admin-doc][data-doc-id=roadmap]')
    await row.waitFor({ timeout: 15_000 })
    expect(await row.getByTestId('admin-doc-connections').textContent()).toBe('1')
    await screenshot(page, 'admin-cluster')
  })

  test('says so when the token is not an admin token', async () => {
    const [node] = await startCluster(1, { staticDir: DEMO_DIST, authSecret: AUTH_SECRET })
    const writer = await openUser(browser(), `${node.url}/admin.html?token=${await token({ '*': 'write' })}`, 'Writer', '#334155')
    // Chromium reports the refused request itself; the page says why in its own words.
    writer.allowConsole(/console\.error: Failed to load resource: the server responded with a status of 403 .*\/v1\/admin\/cluster/u)
    const { page } = writer
    await page.getByTestId('admin-status').filter({ hasText: 'not an admin token' }).waitFor({ timeout: 15_000 })
    expect(await page.getByTestId('admin-node').count()).toBe(0)
  })
})
