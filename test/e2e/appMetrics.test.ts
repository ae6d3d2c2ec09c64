import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { runToEnd } from '../helpers/hostProcess.js';

/**
 * `GET /api/metrics` on an in-process local host: the text parses as Prometheus exposition,
 * and the run counters move when a `hello` run completes.
 */
type Series = Map<string, number>;

/** Sample lines only (`name{labels} value`), keyed by `name{labels}` exactly as written. */
function parseExposition(text: string): Series {
  const series: Series = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const [, key = '', value = ''] = match;
    assert.ok(!series.has(key), `series given twice: ${key}`);
    series.set(key, Number(value));
  }
  return series;
}

describe('operator metrics at GET /api/metrics', () => {
  let stateDir: string;
  let host: LocalHost;
  const scrape = async (): Promise<Series> => {
    const response = await fetch(`${host.url}/api/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseExposition(await response.text());
  };

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-app-metrics-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_BACKEND_SLOTS: 'local=3' },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('counts a completed hello run, and shows the backend slots', async () => {
    const before = await scrape();
    const completed = 'baton_runs{pipeline="hello",status="completed"}';
    const started = 'baton_runs_started_total{pipeline="hello"}';
    assert.equal(before.get(completed) ?? 0, 0);
    assert.equal(before.get('baton_backend_slots{backend="local"}'), 3);
    assert.equal(before.get('baton_backend_slots_in_use{backend="local"}'), 0);

    const view = await runToEnd<{ status: string }>(
      host.url,
      { pipeline: 'hello', params: { count: 2, delayMs: 10 } },
      60_000,
    );
    assert.equal(view.status, 'completed');

    const afterRun = await scrape();
    assert.equal(afterRun.get(completed), 1);
    assert.equal(afterRun.get(started), 1);
    assert.equal(afterRun.get('baton_runs{pipeline="hello",status="running"}') ?? 0, 0);
    // The transfer families are still served beside the new ones.
    const text = await (await fetch(`${host.url}/api/metrics`)).text();
    assert.match(text, /^# TYPE baton_transfers_total counter$/m);
  });
});
