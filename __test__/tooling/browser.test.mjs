// The session board in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core), mounted in the example auth server: a user signs in on their device,
// an administrator opens the board, ends that device from the page with the keyboard,
// and the user's next refresh fails. No page breaks the Content-Security-Policy. The
// screenshots of the README are taken here (target/screenshots/; copied to docs/images/
// with UPDATE_SCREENSHOTS=1).
//
// Without a Chromium the suite fails, saying how to get one: CI installs it (.ci/run).

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { createRedisStore } from '../../index.mjs'
import { createAuthApp, hashPassword } from '../../examples/auth-server/app.mjs'
import { redisUrl, uniquePrefix, storeConfig } from '../shared/helpers.mjs'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHOTS = join(ROOT, 'target', 'screenshots')

/** The Chromium to drive: CHROMIUM_PATH, else Debian's on PATH. */
function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
    } catch {}
  }
  throw new Error("no Chromium found: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH; .ci/run installs it")
}

await redisUrl()
const store = createRedisStore(
  storeConfig({
    prefix: uniquePrefix('browser'),
    absTtlSeconds: 3600,
    onReuse: 'revoke-lineage',
    tokenStorage: 'sha256',
    audit: { maxLen: 1000 },
    metrics: true,
  }),
)
const users = {
  alice: { password: hashPassword('alice-password') },
  admin: { password: hashPassword('admin-password'), admin: true },
}
const server = createAuthApp({ store, users, signingKey: randomBytes(32) }).listen(0, '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
// localhost: a secure context, where Chromium keeps the app's Secure cookies over http.
const origin = `http://localhost:${server.address().port}`
const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] })
after(async () => {
  await browser.close()
  await new Promise((resolve) => server.close(resolve))
  await store.close()
})

/** A browser profile (its own cookies) signed in as `username` through the app's API. */
async function signedIn(username, userAgent) {
  const context = await browser.newContext({ userAgent, viewport: { width: 1280, height: 860 } })
  const r = await context.request.post(`${origin}/auth/sign-in`, { data: { username, password: `${username}-password` } })
  assert.equal(r.status(), 200, await r.text())
  return context
}

function shot(name) {
  mkdirSync(SHOTS, { recursive: true })
  const path = join(SHOTS, name)
  return {
    path,
    keep() {
      if (process.env.UPDATE_SCREENSHOTS === '1') {
        mkdirSync(join(ROOT, 'docs', 'images'), { recursive: true })
        copyFileSync(path, join(ROOT, 'docs', 'images', name))
      }
    },
  }
}

test('an administrator ends a device from the board page, and that device can no longer refresh', async () => {
  const laptop = await signedIn('alice', 'Mozilla/5.0 (X11; Linux x86_64) laptop')
  const phone = await signedIn('alice', 'Mozilla/5.0 (Linux; Android 14) phone')
  for (const device of [laptop, phone]) {
    assert.equal((await device.request.post(`${origin}/auth/refresh`)).status(), 200)
  }
  const admin = await signedIn('admin', 'Mozilla/5.0 admin')
  const page = await admin.newPage()
  const violations = []
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text())
  })

  // The home page, then the search, by keyboard.
  const home = await page.goto(`${origin}/admin/`)
  assert.equal(home.status(), 200)
  await page.getByRole('heading', { name: 'Keyspace' }).waitFor()
  const homeShot = shot('board-home.png')
  await page.screenshot({ path: homeShot.path, fullPage: true })
  homeShot.keep()
  await page.getByRole('searchbox').focus()
  await page.keyboard.type('alice')
  await page.keyboard.press('Enter')
  await page.waitForURL(`${origin}/admin/users/alice`)
  await page.getByRole('heading', { name: /Active sessions/ }).waitFor()
  assert.equal(await page.locator('section[aria-labelledby="sessions-h"] tbody tr').count(), 2)
  const userShot = shot('board-user.png')
  await page.screenshot({ path: userShot.path, fullPage: true })
  userShot.keep()

  // No token in the page: the devices' refresh cookies are not in its HTML.
  const html = await page.content()
  for (const device of [laptop, phone]) {
    const rt = (await device.cookies()).find((c) => c.name === 'rt')
    assert.ok(rt?.httpOnly && rt.secure && rt.sameSite === 'Strict')
    assert.ok(!html.includes(rt.value))
  }

  // End the laptop (its device id is in the laptop's own cookie) with the keyboard.
  const laptopDevice = (await laptop.cookies()).find((c) => c.name === 'did').value
  const endDevice = page.getByRole('button', { name: `End every session of device ${laptopDevice}` })
  await endDevice.focus()
  await page.keyboard.press('Enter')
  await page.waitForURL(/ended=1&what=end-device$/)
  await page.getByRole('status').filter({ hasText: 'Ended 1 session.' }).waitFor()
  assert.equal(await page.locator('section[aria-labelledby="sessions-h"] tbody tr').count(), 1)

  assert.equal((await laptop.request.post(`${origin}/auth/refresh`)).status(), 401, "the ended device's refresh fails")
  assert.equal((await phone.request.post(`${origin}/auth/refresh`)).status(), 200, 'the other device keeps working')

  // At a phone's width the tables become cards and nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto(`${origin}/admin/users/alice`)
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390px`)
  const narrowShot = shot('board-narrow.png')
  await page.screenshot({ path: narrowShot.path, fullPage: true })
  narrowShot.keep()

  assert.deepEqual(violations, [])
  for (const context of [laptop, phone, admin]) await context.close()
})

test('a signed-in user who is not an administrator sees nothing of the board', async () => {
  const user = await signedIn('alice', 'Mozilla/5.0 user')
  const page = await user.newPage()
  const r = await page.goto(`${origin}/admin/users/alice`)
  assert.equal(r.status(), 403)
  assert.doesNotMatch(await page.content(), /Active sessions|alice/)
  await user.close()
})
