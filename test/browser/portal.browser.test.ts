import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { browserSkipReason, chromiumCandidates, findChromium } from './chromium.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * The portal in a real Chromium against an in-process local host: start `hello` from the form
 * and watch it complete in the runs list, open its timeline, see a field error next to the
 * field, and see the API's 403 when a second user presses delete on the first user's task.
 * Each user signs in through a one-time token URL, as `baton up` prints one.
 * Screenshots of the main pages go to test/browser/artifacts/ (gitignored).
 */
const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const skip = browserSkipReason();
if (skip !== undefined) console.log(skip);

describe('portal in Chromium', { skip: skip ?? false, timeout: 180_000 }, () => {
  let stateDir: string;
  let host: LocalHost;
  let browser: Browser;
  let page: Page;

  const shot = async (name: string): Promise<void> => {
    const file = path.join(artifacts, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${path.relative(process.cwd(), file)}`);
  };
  /** Signs the page in as `user` through a one-time token URL, as `baton up` prints one. */
  const signInAs = async (user: string, hash = ''): Promise<void> => {
    await page.goto(`${host.signInUrl(user)}${hash}`);
    await page.locator(`[data-testid=user][data-user="${user}"]`).waitFor();
    assert.doesNotMatch(page.url(), /token=/, 'the token leaves the address bar');
  };

  before(async () => {
    const executablePath = findChromium();
    if (executablePath === undefined) {
      throw new Error(`CI=true and no Chromium at ${chromiumCandidates().join(', ')}`);
    }
    await mkdir(artifacts, { recursive: true });
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-portal-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
    // Root in CI: Chromium's sandbox needs a user namespace it may not get there.
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    page.on('dialog', (dialog) => void dialog.accept());
  });
  after(async () => {
    await browser?.close();
    await host?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('starts hello from the form, sees it complete in the runs list, opens its timeline', async () => {
    await signInAs('alice');
    await page.click('[data-testid=nav-start]');
    await page.selectOption('[data-testid=pipeline]', 'hello');
    await page.fill('[data-testid=param-count]', '5');
    await page.fill('[data-testid=param-greeting]', 'Hi');
    await page.fill('[data-testid=param-delayMs]', '200');
    await shot('start-form');
    await page.click('[data-testid=submit]');

    const started = page.locator('[data-testid=started] a');
    await started.waitFor();
    const runId = (await started.textContent()) ?? '';
    assert.match(runId, /\S/);
    const row = page.locator(`[data-testid=runs-table] tr:has([data-run-id="${runId}"])`);
    // The list refreshes itself while the run is live: no reload here.
    await row.locator('[data-status=completed]').waitFor({ timeout: 60_000 });
    await shot('runs');

    await row.locator(`[data-run-id="${runId}"]`).click();
    await page.locator('[data-testid=timeline] canvas').waitFor();
    const stepRows = page.locator('[data-testid=steps-table] tbody tr');
    await stepRows.nth(4).waitFor();
    assert.ok((await stepRows.count()) >= 5, 'one row per greeting at least');
    await page.locator('[data-testid=logs]').waitFor();
    await shot('run-timeline');
  });

  it('shows a bad parameter next to its field', async () => {
    await page.goto(`${host.url}/#/start?pipeline=hello`);
    await page.fill('[data-testid=param-count]', '-1');
    await page.click('[data-testid=submit]');
    const slot = page.locator('[data-error-for="params.count"]');
    await slot.filter({ hasText: /Too small/ }).waitFor();
    assert.match((await slot.textContent()) ?? '', /params\.count: Too small/);
    assert.doesNotMatch((await page.content()) ?? '', /\n\s+at [\w.<>]+ \(/);

    await page.fill('[data-testid=param-count]', 'lots');
    await page.click('[data-testid=submit]');
    await slot.filter({ hasText: /expected number/ }).waitFor();
    await shot('start-form-error');
  });

  it("refuses, with the API's 403, a second user's delete of the first user's task", async () => {
    const lake = (rel: string): string => path.join(stateDir, 'lake', ...rel.split('/'));
    await mkdir(lake('alice/configs'), { recursive: true });
    await writeFile(lake('alice/data.csv'), 'x\n1\n');
    for (let i = 0; i < 3; i++) await writeFile(lake(`alice/configs/c${i}.json`), '{}');
    const asAlice = (method: string, route: string, body: unknown): Promise<Response> =>
      fetch(`${host.url}/api/${route}`, {
        method,
        headers: asUser('alice'),
        body: JSON.stringify(body),
      });
    for (const [name, p] of [
      ['user.alice.data', 'alice/data.csv'],
      ['user.alice.configs', 'alice/configs'],
    ]) {
      assert.equal((await asAlice('POST', 'datasets', { name, path: p })).status, 201);
    }
    const created = await asAlice('POST', 'tasks', {
      name: 'user.alice.scan',
      configDataset: 'user.alice.configs',
      dataDataset: 'user.alice.data',
      exec: 'cat %IN %DATA > %OUT',
    });
    assert.equal(created.status, 201, await created.text());

    // The second user, in the same browser: a new token replaces alice's session cookie.
    await signInAs('bob', '#/tasks');
    await page.locator('[data-testid=tasks-table] a', { hasText: 'user.alice.scan' }).click();
    await page.locator('[data-testid=jobs-by-state] canvas').waitFor();
    await shot('task');
    await page.click('[data-testid=delete]');
    const result = page.locator('[data-testid=action-result] [data-testid=error]');
    await result.waitFor();
    assert.match((await result.textContent()) ?? '', /alice|owner|not yours|forbidden/i);
    await shot('task-delete-forbidden');
    // The API, not only the page, refused: the task is still there.
    const still = await fetch(`${host.url}/api/tasks/user.alice.scan`);
    assert.equal(still.status, 200);
    await page.goto(`${host.url}/#/tasks`);
    await page.locator('[data-testid=tasks-table]').waitFor();
    await shot('tasks');
  });
});
