import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { functionsByTrigger } from '../../shared/runtime/functionRegistry.js';
import {
  fillRoute,
  rawRequest,
  registeredHttpRoutes,
  replyProblems,
  startInProcessHost,
  type InProcessHost,
} from '../helpers/inProcessHost.js';
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

describe('HTTP functions under hostile input', () => {
  let host: InProcessHost;
  before(async () => {
    host = await startInProcessHost({ prefix: 'baton-http-' });
  });
  after(() => host.stop());

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
      'getRunPerformance',
      'getRunChildren',
      'listRunErrorDumps',
      'getRunErrorDumpFile',
      'listRunOutputs',
      'getSlotHistory',
    ]) {
      assert.ok(names.includes(expected), `${expected} not registered`);
    }
  });

  it(
    'answers every hostile request with a 2xx or a 4xx error body, never a 500',
    { timeout: 60_000 },
    async () => {
      let requests = 0;
      for (const { route, methods } of registeredHttpRoutes()) {
        for (const segment of hostileSegments) {
          for (const method of methods) {
            const bodies = method === 'GET' || method === 'DELETE' ? [undefined] : hostileBodies;
            for (const body of bodies) {
              // Resolved as fetch() would send it (dot segments and spaces normalised).
              const target = new URL(
                `/${fillRoute(route, () => segment)}?limit=${encodeURIComponent(segment)}&tail=-1&status=${encodeURIComponent(segment)}`,
                host.url,
              );
              const url = target.pathname + target.search;
              const reply = await rawRequest(host.url, {
                method,
                path: url,
                headers: asUser('fuzzer'),
                ...(body === undefined ? {} : { body }),
              });
              requests++;
              const where = `${method} ${url.slice(0, 120)} body=${(body ?? '').slice(0, 60)} -> ${reply.status} ${reply.body.slice(0, 200)}`;
              const problems = replyProblems(reply, [host.stateDir]);
              assert.ok(!problems.serverError, where);
              assert.ok(!problems.stackTrace, `stack trace in ${where}`);
              assert.ok(!problems.malformedError, `not an error body: ${where}`);
            }
          }
        }
      }
      assert.ok(requests > 200, `only ${requests} requests`);
    },
  );

  it('answers what never reaches a function with an error body naming the field', async () => {
    const cases: Array<[string, Parameters<typeof rawRequest>[1], number, string]> = [
      // A backslash after the slash made the URL parser read a host name: a 500 before.
      ['backslash path', { path: '/\\/..%2f/x' }, 404, ''],
      ['absolute-form target', { path: 'http://evil.example/api/health' }, 400, 'url'],
      ['wrong method', { method: 'PATCH', path: '/api/runs', headers: asUser('u') }, 405, 'method'],
      ['URL over 16 KiB', { path: `/api/runs?x=${'a'.repeat(20_000)}` }, 431, 'headers'],
      [
        'body over 10 MiB',
        {
          method: 'POST',
          path: '/api/runs',
          headers: asUser('u'),
          body: new Uint8Array(10 * 1024 * 1024 + 1),
          fresh: true,
        },
        413,
        'body',
      ],
    ];
    for (const [what, request, status, field] of cases) {
      const reply = await rawRequest(host.url, request);
      assert.equal(reply.status, status, `${what}: ${reply.body}`);
      const error = (JSON.parse(reply.body) as { error: { field?: string; message: string } })
        .error;
      if (field !== '') {
        assert.equal(error.field, field, what);
        assert.ok(error.message.startsWith(`${field}: `), `${what}: ${error.message}`);
      }
    }
  });
});
