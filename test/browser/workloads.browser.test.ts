import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { beamlinePruneDepsOf, pruneBeamline } from '../../shared/app/beamlinePrune.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { api, repoRoot, runToEnd } from '../helpers/hostProcess.js';
import { browserSkipReason, chromiumCandidates, findChromium } from './chromium.js';
import { asUser } from '../helpers/localAuth.js';
import { copyBeamlineExample } from '../helpers/beamlineSources.js';

/**
 * The workload pages in a real Chromium against an in-process local host: a sweep's trials and
 * objective plot, a beamline test-transfers run's transfers table, a model run's iteration ×
 * step grid (live while it runs), CPU and memory plots, outputs' provenance and error-dump
 * links, the datasets and retention pages (with both pruners' dry runs) and the slots page
 * with its stored history.
 * Runs are started over HTTP first; the pages only read. Screenshots go to
 * test/browser/artifacts/.
 */
const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const modelExample = path.join(repoRoot, 'examples', 'transport-model');
const skip = browserSkipReason();

describe('portal workload pages in Chromium', { skip: skip ?? false, timeout: 240_000 }, () => {
  let sources: string;
  let stateDir: string;
  let host: LocalHost;
  let browser: Browser;
  let page: Page;

  const shot = async (name: string): Promise<void> => {
    const file = path.join(artifacts, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${path.relative(process.cwd(), file)}`);
  };
  const asAlice = async (method: string, route: string, body?: unknown): Promise<Response> =>
    fetch(`${host.url}/api/${route}`, {
      method,
      headers: asUser('alice'),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const ended = async (runId: string): Promise<{ status: string; error?: string }> => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const view = (await api<{ status: string }>(`${host.url}/api/runs/${runId}`)).body;
      if (!['pending', 'running'].includes(view.status)) return view;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${runId} did not end`);
  };

  before(async () => {
    const executablePath = findChromium();
    if (executablePath === undefined) {
      throw new Error(`CI=true and no Chromium at ${chromiumCandidates().join(', ')}`);
    }
    await mkdir(artifacts, { recursive: true });
    // One sources root for the beamline config (as in test/e2e/beamlineLanding.test.ts) and the
    // transport-model example the databank is created from.
    sources = await mkdtemp(path.join(os.tmpdir(), 'baton-portal-src-'));
    await copyBeamlineExample(sources);
    await cp(modelExample, path.join(sources, 'transport-model'), { recursive: true });
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-portal-workloads-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: {
        BATON_MODEL_SOURCES_ROOT: sources,
        BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
        BATON_SLOT_SAMPLE_SCHEDULE: '* * * * * *',
      },
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    // Signed in as `baton up`'s link does: the dry-run buttons POST.
    await page.goto(host.signInUrl('alice'));
    await page.locator('[data-testid=user][data-user=alice]').waitFor();
  });
  after(async () => {
    await browser?.close();
    await host?.stop();
    if (stateDir)
      await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    if (sources) await rm(sources, { recursive: true, force: true });
  });

  it('shows a sweep run: trials table, objective plot, best trial', async () => {
    // Each trial reports its x as the loss at step 0, through the metrics file.
    const script = [
      "const { appendFileSync } = require('node:fs');",
      'const { x } = JSON.parse(process.env.BATON_PARAMS);',
      'appendFileSync(process.env.BATON_METRICS_FILE, JSON.stringify({ step: 0, loss: x }) + "\\n");',
    ].join('\n');
    const view = await runToEnd<{ runId: string; status: string; error?: string }>(
      host.url,
      {
        pipeline: 'sweep',
        params: {
          experiment: 'portal-sweep',
          space: { x: { type: 'choice', values: [3, 1, 2] } },
          objective: { metric: 'loss', direction: 'minimize' },
          budget: { maxTrials: 3 },
          parallelism: 1,
          sampler: { kind: 'grid' },
          trial: { argv: ['node', '-e', script], timeoutSeconds: 60 },
        },
      },
      90_000,
    );
    assert.equal(view.status, 'completed', view.error);

    await page.goto(`${host.url}/#/runs/${encodeURIComponent(view.runId)}`);
    const rows = page.locator('[data-testid=trials-table] tbody tr');
    await rows.nth(2).waitFor();
    assert.equal(await rows.count(), 3);
    await page.locator('[data-testid=objective-plot] canvas').waitFor();
    assert.match((await page.textContent('[data-testid=best-trial]')) ?? '', /loss = 1\b/);
    await shot('sweep-run');
  });

  it('shows a beamline test-transfers run: the transfers table', async () => {
    const started = await asAlice('POST', 'flows/test-transfers', { config: 'beamline.yaml' });
    assert.equal(started.status, 202);
    const { runId } = (await started.json()) as { runId: string };
    const view = await ended(runId);
    assert.equal(view.status, 'completed', view.error);

    await page.goto(`${host.url}/#/runs/${encodeURIComponent(runId)}`);
    const hops = page.locator('[data-testid=transfers-table] tbody tr');
    await hops.nth(1).waitFor();
    const cells: string[][] = [];
    for (const row of await hops.all()) {
      cells.push((await row.locator('td').allTextContents()).slice(0, 3));
    }
    assert.deepEqual(cells, [
      ['spot832', 'data832', 'succeeded'],
      ['data832', 'nersc832', 'succeeded'],
    ]);
    await shot('beamline-transfers');
  });

  it('shows a model run: the iteration × step grid and what each step used', async () => {
    const created = await asAlice('POST', 'databanks', {
      name: 'portal_bank',
      config: await readFile(path.join(modelExample, 'orca_model_config.yaml'), 'utf8'),
      sourceDir: path.join(sources, 'transport-model'),
    });
    assert.equal(created.status, 201, await created.text());
    const view = await runToEnd<{ runId: string; status: string; error?: string }>(
      host.url,
      { pipeline: 'model', params: { databank: 'portal_bank' } },
      90_000,
    );
    assert.equal(view.status, 'completed', view.error);

    await page.goto(`${host.url}/#/runs/${encodeURIComponent(view.runId)}`);
    const grid = page.locator('[data-testid=model-grid]');
    await grid.waitFor();
    assert.deepEqual(await grid.locator('thead th').allTextContents(), [
      'iteration',
      'populationsim',
      'activitysim',
      'quetzal',
    ]);
    assert.equal(await grid.locator('tbody tr').count(), 2);
    assert.equal(await grid.locator('[data-status=completed]').count(), 5);
    assert.equal(await grid.locator('[data-status=skipped]').count(), 1);
    await page.locator('[data-testid=step-usage] canvas').waitFor();
    // CPU and memory over time, from the databank's monitoring CSVs.
    await page.locator('[data-testid=performance-cpu] canvas').waitFor();
    await page.locator('[data-testid=performance-memory] canvas').waitFor();
    // Provenance: every archive the run built, with the job attempts that made it.
    const outputs = page.locator('[data-testid=outputs-table] tbody tr');
    await outputs.first().waitFor();
    const outputRows = await outputs.allTextContents();
    assert.ok(
      outputRows.some((r) =>
        /outputs\/quetzal_quetzal_outputs_iter2\.zip.*i2-quetzal-c0 #1 succeeded/.test(r),
      ),
      outputRows.join('\n'),
    );
    await shot('model-run');
  });

  it('shows a running model run’s cells live', async () => {
    // activitysim made slow enough that a 2 s refresh sees it running.
    const config = (
      await readFile(path.join(modelExample, 'orca_model_config.yaml'), 'utf8')
    ).replace("ACTIVITYSIM_SECONDS: '1'", "ACTIVITYSIM_SECONDS: '6'");
    assert.match(config, /ACTIVITYSIM_SECONDS: '6'/);
    const created = await asAlice('POST', 'databanks', {
      name: 'portal_live',
      config,
      sourceDir: path.join(sources, 'transport-model'),
    });
    assert.equal(created.status, 201, await created.text());
    const started = await asAlice('POST', 'runs', {
      pipeline: 'model',
      params: { databank: 'portal_live' },
    });
    assert.equal(started.status, 202);
    const { runId } = (await started.json()) as { runId: string };

    await page.goto(`${host.url}/#/runs/${encodeURIComponent(runId)}`);
    const grid = page.locator('[data-testid=model-grid]');
    await grid.locator('[data-status=running]').first().waitFor({ timeout: 60_000 });
    await shot('model-run-live');
    const view = await ended(runId);
    assert.equal(view.status, 'completed', view.error);
    // The page keeps refreshing until the run ends, then shows every cell settled.
    await grid.locator('[data-status=skipped]').waitFor();
    assert.equal(await grid.locator('[data-status=running]').count(), 0);
  });

  it('links a failed model run’s error dump files', async () => {
    const created = await asAlice('POST', 'databanks', {
      name: 'portal_fail',
      config: await readFile(path.join(modelExample, 'orca_model_config.yaml'), 'utf8'),
      sourceDir: path.join(sources, 'transport-model'),
    });
    assert.equal(created.status, 201, await created.text());
    await writeFile(path.join(stateDir, 'databanks', 'portal_fail', 'FAIL_QUETZAL'), '');
    const view = await runToEnd<{ runId: string; status: string }>(
      host.url,
      { pipeline: 'model', params: { databank: 'portal_fail' } },
      90_000,
    );
    assert.equal(view.status, 'failed');

    await page.goto(`${host.url}/#/runs/${encodeURIComponent(view.runId)}`);
    await page.locator('[data-testid=model-grid] [data-status=failed]').waitFor();
    const link = page.locator('[data-testid=error-dump-file]', { hasText: 'error_info.json' });
    await link.waitFor();
    const href = (await link.getAttribute('href')) ?? '';
    assert.match(href, /^\/api\/runs\/[^/]+\/error-dumps\/[^/]+\/error_info\.json$/);
    // The link downloads the file, with the page's own session.
    const download = await page.evaluate(async (url) => {
      const r = await fetch(url);
      return {
        status: r.status,
        disposition: r.headers.get('content-disposition'),
        text: await r.text(),
      };
    }, href);
    assert.equal(download.status, 200);
    assert.match(download.disposition ?? '', /^attachment/);
    const info = JSON.parse(download.text) as { step: string; exitCode: number };
    assert.equal(info.step, 'quetzal');
    assert.equal(info.exitCode, 3);
    await shot('model-run-error-dumps');
  });

  it('browses datasets by owner and opens one', async () => {
    const lake = (rel: string): string => path.join(stateDir, 'lake', ...rel.split('/'));
    await mkdir(lake('alice/scans'), { recursive: true });
    for (let i = 0; i < 3; i++) await writeFile(lake(`alice/scans/s${i}.h5`), 'x'.repeat(100 * i));
    const registered = await asAlice('POST', 'datasets', {
      name: 'user.alice.scans',
      path: 'alice/scans',
    });
    assert.equal(registered.status, 201, await registered.text());

    await page.goto(`${host.url}/#/datasets`);
    await page.fill('[data-testid=filter-owner]', 'alice');
    await page.press('[data-testid=filter-owner]', 'Enter');
    const link = page.locator('[data-testid=datasets-table] a', { hasText: 'user.alice.scans' });
    await link.waitFor();
    await shot('datasets');
    await link.click();
    const files = page.locator('[data-testid=dataset-files] tbody tr');
    await files.nth(2).waitFor();
    assert.equal(await files.count(), 3);
    await shot('dataset');
  });

  it('shows what retention has due, and both pruners’ dry runs', async () => {
    const lake = (rel: string): string => path.join(stateDir, 'lake', ...rel.split('/'));
    await mkdir(lake('alice/old'), { recursive: true });
    await writeFile(lake('alice/old/a.txt'), 'old');
    for (const [p, afterDays] of [
      ['alice/old', 0],
      ['alice/keep', 30],
    ] as const) {
      const scheduled = await asAlice('POST', 'retention', {
        path: p,
        afterDays,
        reason: 'portal test',
      });
      assert.equal(scheduled.status, 201, await scheduled.text());
    }

    await page.goto(`${host.url}/#/retention`);
    const scheduled = page.locator('[data-testid=retention-scheduled] tbody tr');
    await scheduled.nth(1).waitFor();
    assert.equal(await scheduled.locator('[data-status=due]').count(), 1);

    await page.click('[data-testid=lake-dry-run]');
    const lakeRows = page.locator('[data-testid=lake-preview-table] tbody tr');
    await lakeRows.first().waitFor();
    assert.match((await lakeRows.first().textContent()) ?? '', /alice\/old.*would-prune/);

    await page.click('[data-testid=beamline-dry-run]');
    await page.locator('[data-testid=beamline-preview] p').first().waitFor();
    assert.match(
      (await page.textContent('[data-testid=beamline-preview]')) ?? '',
      /nothing was deleted \(dry run\)/,
    );
    // A config that does not exist is the API's error, shown as such, without a stack trace.
    await page.fill('[data-testid=prune-config]', 'missing.yaml');
    await page.click('[data-testid=beamline-dry-run]');
    const error = page.locator('[data-testid=beamline-preview] [data-testid=error]');
    await error.waitFor();
    assert.doesNotMatch((await error.textContent()) ?? '', /\n\s+at /);
    await page.fill('[data-testid=prune-config]', 'beamline.yaml');
    await page.click('[data-testid=beamline-dry-run]');
    await page
      .locator('[data-testid=beamline-preview] [data-testid=error]')
      .waitFor({ state: 'detached' });
    // Nothing was deleted by either preview.
    assert.equal(await readFile(lake('alice/old/a.txt'), 'utf8'), 'old');
    await shot('retention');
  });

  it('shows a beamline’s retention ledger and the pruner’s audit with the surviving copy', async () => {
    // A real new-file flow records the copies; the pruner, run as if 8 days later, deletes the
    // spot832 copy (due after 7 days) because nersc832, the raw data's home, holds the same
    // bytes, and audits it with that surviving copy.
    const landing = path.join(stateDir, 'lake', 'landing', 'bl832', 'portal_0001.h5');
    await mkdir(path.dirname(landing), { recursive: true });
    await writeFile(landing, 'HDF5 stand-in for the portal\n'.repeat(40));
    const started = await asAlice('POST', 'runs', {
      pipeline: 'beamline',
      params: { config: 'beamline.yaml', path: 'landing/bl832/portal_0001.h5' },
    });
    assert.equal(started.status, 202, await started.clone().text());
    const { runId } = (await started.json()) as { runId: string };
    const view = await ended(runId);
    assert.equal(view.status, 'completed', view.error);
    const report = await pruneBeamline(
      beamlinePruneDepsOf(host.services, () => undefined),
      {
        config: 'beamline.yaml',
        now: new Date(Date.now() + 8 * 24 * 3600 * 1000),
      },
    );
    assert.ok(
      report.entries.some((e) => e.path === 'portal_0001.h5' && e.outcome === 'deleted'),
      JSON.stringify(report.entries),
    );

    await page.goto(`${host.url}/#/retention`);
    await page.fill('[data-testid=prune-config]', 'beamline.yaml');
    await page.click('[data-testid=beamline-dry-run]');
    const ledgerRows = page.locator('[data-testid=beamline-ledger-table] tbody tr', {
      hasText: 'portal_0001.h5',
    });
    await ledgerRows.nth(1).waitFor();
    const ledger: string[][] = [];
    for (const row of await ledgerRows.all()) {
      const cells = await row.locator('td').allTextContents();
      ledger.push([cells[0] ?? '', cells[2] ?? '', cells[6] ?? '']);
    }
    assert.deepEqual(ledger.sort(), [
      ['data832', 'scheduled', runId],
      ['spot832', 'pruned', runId],
    ]);
    const audit = page.locator('[data-testid=beamline-audit-table] tbody tr', {
      hasText: 'portal_0001.h5',
    });
    await audit.first().waitFor();
    const cells = await audit.first().locator('td').allTextContents();
    assert.equal(cells[2], 'deleted');
    assert.equal(cells[3], 'spot832');
    assert.equal(cells[5], 'nersc832: portal_0001.h5', 'the surviving copy is named');
    await shot('beamline-audit');

    // A config that cannot be read: the API's error in the ledger, nothing else shown.
    await page.fill('[data-testid=prune-config]', 'missing.yaml');
    await page.click('[data-testid=beamline-dry-run]');
    await page.locator('[data-testid=beamline-ledger] [data-testid=error]').waitFor();
    assert.equal(await page.locator('[data-testid=beamline-audit-table]').count(), 0);
  });

  it('shows slots per backend from the metrics', async () => {
    await page.goto(`${host.url}/#/slots`);
    const row = page.locator('[data-testid=slots-table] tbody tr', { hasText: 'local' });
    await row.waitFor();
    assert.deepEqual((await row.locator('td').allTextContents()).slice(0, 2), ['local', '4']);
    await page.locator('[data-testid=slots-over-time] canvas').waitFor();
    // The sampler ticks every second here: the stored history is charted.
    await page.locator('[data-testid=slot-history] canvas').waitFor({ timeout: 15_000 });
    await shot('slots');
  });
});
