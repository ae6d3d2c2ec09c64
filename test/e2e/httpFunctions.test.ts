import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { functionsByTrigger } from '../../shared/runtime/functionRegistry.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Every HTTP function the app registers, called through the host with real HttpRequest and
 * InvocationContext objects and hostile input: whatever the input, a user mistake is a 4xx with
 * `{error:{code,message}}`, never a 500 and never a stack trace.
 */
const hostileSegments = [
  '..',
  '..%2F..%2Fetc',
  'x'.repeat(300),
  '%00',
  'a:b',
  ' ',
  '%E2%80%AE',
  'null',
];
const hostileBodies = [
  '{',
  '[]',
  'null',
  '"text"',
  '{"pipeline": 7}',
  '{"pipeline":"hello","params":{"count":"lots"}}',
  '{"pipeline":"hello","params":{"__proto__":{"x":1}}}',
  '{"pipeline":"hello","runId":"../../x"}',
  JSON.stringify({ a: 'x'.repeat(100_000) }),
  '{"a":'.repeat(500) + '1' + '}'.repeat(500),
];

function fill(route: string, value: string): string {
  return route.replace(/\{\*?([A-Za-z_][A-Za-z0-9_]*)(:[a-z]+)?\??\}/g, value);
}

describe('HTTP functions under hostile input', () => {
  let stateDir: string;
  let host: LocalHost;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-http-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('covers every registered HTTP function', () => {
    const names = functionsByTrigger('httpTrigger').map((f) => f.name);
    for (const expected of [
      'startRun',
      'listRuns',
      'getRun',
      'cancelRun',
      'deleteRun',
      'raiseRunEvent',
      'getRunLogs',
      'listPipelines',
      'health',
      'transferMetrics',
      'registerDataset',
      'listDatasets',
      'getDataset',
      'deleteDataset',
      'createTask',
      'listTasks',
      'getTask',
      'deleteTask',
      'retryTask',
      'killTask',
      'getTaskLogs',
      'findTrackedRuns',
      'getTrackedRun',
      'uploadUserFile',
      'listRetention',
      'scheduleRetention',
      'pruneRetentionNow',
      'pruneBeamlineNow',
      'startBeamlineFlow',
      'listBeamlineRetention',
      'listBeamlinePruneAudit',
      'portalPage',
      'portalAsset',
    ]) {
      assert.ok(names.includes(expected), `${expected} not registered`);
    }
  });

  it(
    'answers every hostile request with a 2xx or a 4xx error body, never a 500',
    { timeout: 60_000 },
    async () => {
      let requests = 0;
      for (const fn of functionsByTrigger('httpTrigger')) {
        const route = typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
        const methods = (fn.trigger.methods as string[] | undefined) ?? ['GET', 'POST'];
        for (const segment of hostileSegments) {
          for (const method of methods) {
            const bodies = method === 'GET' || method === 'DELETE' ? [undefined] : hostileBodies;
            for (const body of bodies) {
              const url = `${host.url}/${fill(route, segment)}?limit=${encodeURIComponent(segment)}&tail=-1&status=${encodeURIComponent(segment)}`;
              const response = await fetch(url, {
                method,
                headers: asUser('fuzzer'),
                ...(body === undefined ? {} : { body }),
              });
              requests++;
              const text = await response.text();
              const where = `${method} ${url.slice(0, 120)} body=${(body ?? '').slice(0, 60)} -> ${response.status} ${text.slice(0, 200)}`;
              assert.ok(response.status < 500, where);
              assert.doesNotMatch(text, /\n\s+at [\w.<>]+ \(/, `stack trace in ${where}`);
              if (response.status >= 400 && response.status !== 404 && response.status !== 405) {
                const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
                assert.equal(typeof parsed.error?.code, 'string', where);
                assert.equal(typeof parsed.error?.message, 'string', where);
              }
            }
          }
        }
      }
      assert.ok(requests > 200, `only ${requests} requests`);
    },
  );
});
