import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MlflowTracker,
  type MlflowTrackerOptions,
} from '../../shared/adapters/mlflow/mlflowTracker.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import {
  startMlflowServer,
  type MlflowServer,
  type RecordedRequest,
} from '../servers/mlflowServer.js';
import { runTrackerContract } from './tracker.contract.js';

const token = 'test-token-7f3a';
const fastRetries = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

/** A tracker on a fresh server that pages searches by 2 and histories by 3 (so paging runs). */
async function makeWorld(
  options: Partial<MlflowTrackerOptions> = {},
): Promise<{ tracker: MlflowTracker; server: MlflowServer; cleanup: () => Promise<void> }> {
  const server = await startMlflowServer({ token, maxSearchPageSize: 2, historyPageSize: 3 });
  const tracker = new MlflowTracker({
    baseUrl: server.url,
    tokenEnvVar: 'TEST_MLFLOW_TOKEN',
    env: { TEST_MLFLOW_TOKEN: token },
    retry: fastRetries,
    timeoutMs: 2000,
    ...options,
  });
  return { tracker, server, cleanup: () => server.close() };
}

runTrackerContract('MlflowTracker (local MLflow REST server)', makeWorld);

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode, message?: RegExp) =>
  assert.rejects(promise, (err) => {
    assert.ok(isBatonError(err, code), `expected ${code}, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });

const to = (endpoint: string) => (r: RecordedRequest) => r.endpoint === endpoint;

describe('MlflowTracker: on the wire', () => {
  let world: Awaited<ReturnType<typeof makeWorld>>;
  let experimentId: string;
  before(async () => {
    world = await makeWorld();
    experimentId = await world.tracker.getOrCreateExperiment('wire');
  });
  after(() => world.cleanup());

  it('sends the structured filter as MLflow search syntax, and pages through the results', async () => {
    const { tracker, server } = world;
    for (let i = 0; i < 5; i++) {
      const runId = await tracker.startRun({ experimentId, tags: { k: 'v' }, startTime: 1000 + i });
      await tracker.logMetrics(runId, [{ key: 'f1', value: 0.5 + i / 10, timestamp: 1 }]);
    }
    server.requests.length = 0;
    const found = await tracker.searchRuns({
      experimentIds: [experimentId],
      filter: { metrics: [{ key: 'f1', op: '>', value: 0.55 }], tags: { k: 'v' } },
      orderBy: { kind: 'metric', key: 'f1', direction: 'DESC' },
      maxResults: 3,
    });
    assert.deepEqual(
      found.map((r) => r.metrics.f1),
      [0.9, 0.8, 0.7],
    );
    const searches = server.requests.filter(to('runs/search'));
    // The server caps a page at 2 whatever is asked: the adapter follows the token for the rest.
    assert.equal(searches.length, 2, 'a page of 2, then one of 1');
    assert.deepEqual(searches[0]?.body, {
      experiment_ids: [experimentId],
      filter: "metrics.f1 > 0.55 and tags.k = 'v'",
      run_view_type: 'ACTIVE_ONLY',
      max_results: 3,
      order_by: ['metrics.f1 DESC'],
    });
    assert.equal((searches[1]?.body as { max_results: number }).max_results, 1);
    assert.equal(typeof (searches[1]?.body as { page_token?: string }).page_token, 'string');
  });

  it('nests through the mlflow.parentRunId tag and reads paged metric histories', async () => {
    const { tracker, server } = world;
    const parent = await tracker.startRun({ experimentId, name: 'sweep' });
    const child = await tracker.startRun({ experimentId, name: 'trial', parentRunId: parent });
    const create = server.requests.filter(to('runs/create')).at(-1)?.body as {
      run_name: string;
      tags: { key: string; value: string }[];
    };
    assert.equal(create.run_name, 'trial');
    assert.ok(create.tags.some((t) => t.key === 'mlflow.parentRunId' && t.value === parent));
    await tracker.logMetrics(
      child,
      Array.from({ length: 7 }, (_, step) => ({
        key: 'loss',
        value: 7 - step,
        step,
        timestamp: 5,
      })),
    );
    const historyCalls = server.requests.filter(to('metrics/get-history')).length;
    const run = await tracker.getRun(child);
    assert.equal(run.metricHistory.loss?.length, 7);
    assert.equal(
      server.requests.filter(to('metrics/get-history')).length - historyCalls,
      3,
      '3+3+1',
    );
    assert.equal(run.metrics.loss, 1);
  });

  it('retries a 503 and then succeeds', async () => {
    const { tracker, server } = world;
    server.failNext(2, 503, { when: to('experiments/get-by-name') });
    const before = server.requests.length;
    assert.equal(await tracker.getOrCreateExperiment('wire'), experimentId);
    assert.equal(server.requests.length - before, 3);
  });

  it('honours Retry-After on a 429', async () => {
    const { tracker, server } = world;
    server.failNext(1, 429, { when: to('experiments/get-by-name'), retryAfter: '0' });
    assert.equal(await tracker.getOrCreateExperiment('wire'), experimentId);
  });

  it('a persistent 500 ends as unavailable (retryable) after the configured attempts', async () => {
    const { tracker, server } = world;
    server.failNext(10, 500, { when: to('runs/get'), message: 'database is locked' });
    const before = server.requests.length;
    await rejectsWith(
      tracker.getRun('0123456789abcdef0123456789abcdef'),
      'unavailable',
      /gave up after 3 attempts/,
    );
    assert.equal(server.requests.length - before, 3);
    server.clearFaults();
  });

  it("MLflow's error_code wins over the status: a 500 INVALID_STATE is not retried", async () => {
    const { tracker, server } = world;
    server.failNext(1, 500, { when: to('runs/get'), errorCode: 'INVALID_STATE' });
    const before = server.requests.length;
    await rejectsWith(
      tracker.getRun('0123456789abcdef0123456789abcdef'),
      'precondition_failed',
      /INVALID_STATE/,
    );
    assert.equal(server.requests.length - before, 1);
  });

  it('a reply slower than the timeout is unavailable', async () => {
    const { server } = world;
    const impatient = new MlflowTracker({
      baseUrl: server.url,
      tokenEnvVar: 'T',
      env: { T: token },
      timeoutMs: 50,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    server.delayNext(2, 400, to('experiments/get-by-name'));
    await rejectsWith(
      impatient.getExperimentByName('wire'),
      'unavailable',
      /no answer within 50 ms/,
    );
  });

  it('a malformed reply is internal and is not retried', async () => {
    const { tracker, server } = world;
    server.malformNext(1, '{"experiment": {"name": 5}}', to('experiments/get-by-name'));
    const before = server.requests.length;
    await rejectsWith(tracker.getExperimentByName('wire'), 'internal', /unexpected reply/);
    assert.equal(server.requests.length - before, 1);
    server.malformNext(1, '<html>oops</html>', to('experiments/get-by-name'));
    await rejectsWith(tracker.getExperimentByName('wire'), 'internal', /not JSON/);
  });

  it('a runs/create whose answer was lost is not repeated: the retry finds the run', async () => {
    const { tracker, server } = world;
    const runsBefore = server.runCount();
    server.failNext(1, 503, { when: to('runs/create'), afterHandling: true });
    const runId = await tracker.startRun({ experimentId, name: 'once' });
    assert.equal(server.runCount(), runsBefore + 1);
    assert.equal((await tracker.getRun(runId)).name, 'once');
  });

  it('sends the bearer token and never shows it; a wrong token is forbidden', async () => {
    const { server } = world;
    assert.ok(server.requests.every((r) => r.headers.authorization === `Bearer ${token}`));
    const wrong = new MlflowTracker({ baseUrl: server.url, tokenEnvVar: 'T', env: { T: 'nope' } });
    await assert.rejects(wrong.getExperimentByName('wire'), (err) => {
      assert.ok(isBatonError(err, 'forbidden'));
      assert.doesNotMatch(err.message, /nope/);
      assert.doesNotMatch(JSON.stringify(wrong), /nope/);
      return true;
    });
    assert.throws(
      () => new MlflowTracker({ baseUrl: server.url, tokenEnvVar: 'UNSET_VAR', env: {} }),
      (err) => isBatonError(err, 'validation') && err.field === 'tokenEnvVar',
    );
  });

  it('an unreachable server is unavailable; a non-MLflow URL is internal', async () => {
    const { server } = world;
    const closed = await startMlflowServer();
    const url = closed.url;
    await closed.close();
    const gone = new MlflowTracker({ baseUrl: url, retry: { attempts: 2, baseDelayMs: 1 } });
    await rejectsWith(gone.getExperimentByName('x'), 'unavailable', /cannot reach/);
    const wrongPath = new MlflowTracker({
      baseUrl: `${server.url}/not-mlflow`,
      tokenEnvVar: 'T',
      env: { T: token },
    });
    await rejectsWith(wrongPath.getExperimentByName('x'), 'internal', /ENDPOINT_NOT_FOUND/);
    assert.deepEqual(server.unknown.length, 1);
  });

  it('a value MLflow cannot express in a filter is refused before any request', async () => {
    const { tracker, server } = world;
    const before = server.requests.length;
    await rejectsWith(
      tracker.searchRuns({ experimentIds: [experimentId], filter: { tags: { k: `it's "both"` } } }),
      'validation',
    );
    assert.equal(server.requests.length, before);
  });
});
