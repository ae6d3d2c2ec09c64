import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  GlobusComputeController,
  type GlobusComputeControllerOptions,
} from '../../shared/adapters/alcf/globusComputeController.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import {
  startGlobusComputeServer,
  type GlobusComputeServer,
} from '../servers/globusComputeServer.js';
import type { RecordedRequest } from '../servers/jsonRouteServer.js';
import { runHpcContract, waitForHpcEnd } from './hpc.contract.js';

const token = 'compute-token-8a0c';
const endpointId = randomUUID();
const functionId = randomUUID();

function controllerFor(
  server: GlobusComputeServer,
  options: Partial<GlobusComputeControllerOptions> = {},
) {
  return new GlobusComputeController({
    baseUrl: server.url,
    token,
    endpointId,
    functionId,
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    timeoutMs: 2000,
    ...options,
  });
}

const startServer = () =>
  startGlobusComputeServer({ token, endpointId, functionIds: [functionId] });

runHpcContract('GlobusComputeController (local Globus Compute API server)', async () => {
  const server = await startServer();
  return {
    controller: controllerFor(server),
    inputs: {
      ok: '/eagle/als/raw/scan.h5',
      fail: '/eagle/als/raw/fail.h5',
      slow: '/eagle/als/raw/slow.h5',
    },
    output: '/eagle/als/scratch/out',
    started: () => Promise.resolve(server.taskCount()),
    cleanup: () => server.close(),
  };
});

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode, message?: RegExp) =>
  assert.rejects(promise, (err) => {
    assert.ok(isBatonError(err, code), `expected ${code}, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });

const on = (method: string, fragment: string) => (r: RecordedRequest) =>
  r.method === method && r.path.includes(fragment);

describe('GlobusComputeController: on the wire', () => {
  let server: GlobusComputeServer;
  let controller: GlobusComputeController;
  before(async () => {
    server = await startServer();
    controller = controllerFor(server);
  });
  after(() => server.close());

  const request = (jobId: string, input = '/eagle/als/raw/scan.h5') => ({
    jobId,
    input,
    output: '/eagle/als/out',
  });

  it('submits [function, endpoint, JSON payload] with a stable task group per job', async () => {
    await controller.buildMultiResolution({ ...request('wire-1'), options: { levels: 4 } });
    const post = server.requests.find(on('POST', '/v2/submit'))?.body as {
      task_group_id: string;
      tasks: [string, string, string][];
    };
    assert.match(
      post.task_group_id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(post.tasks[0]?.[0], functionId);
    assert.equal(post.tasks[0]?.[1], endpointId);
    assert.deepEqual(JSON.parse(post.tasks[0]?.[2] ?? ''), {
      task: 'multi_resolution',
      input: '/eagle/als/raw/scan.h5',
      output: '/eagle/als/out',
      options: { levels: 4 },
    });
    assert.ok(server.requests.every((r) => r.headers.authorization === `Bearer ${token}`));
    assert.equal((await waitForHpcEnd(controller, 'wire-1')).final.state, 'succeeded');
  });

  it('a task that raised is failed with its exception', async () => {
    await controller.reconstruct(request('wire-exc', '/eagle/als/raw/exception.h5'));
    const { final } = await waitForHpcEnd(controller, 'wire-exc');
    assert.equal(final.state, 'failed');
    assert.match(final.reason ?? '', /FileNotFoundError/);
  });

  it('4xx map to user errors; a wrong token is forbidden and never shown', async () => {
    const unknownFunction = controllerFor(server, { functionId: randomUUID() });
    await rejectsWith(
      unknownFunction.reconstruct(request('wire-404')),
      'not_found',
      /FUNCTION_NOT_FOUND/,
    );
    server.failNext(1, 400, { when: on('POST', '/v2/submit') });
    await rejectsWith(controller.reconstruct(request('wire-400')), 'validation');
    const wrong = controllerFor(server, { token: 'nope-token' });
    await assert.rejects(wrong.reconstruct(request('wire-401')), (err) => {
      assert.ok(isBatonError(err, 'forbidden'));
      assert.doesNotMatch(err.message, /nope-token/);
      assert.doesNotMatch(JSON.stringify(wrong), /nope-token/);
      return true;
    });
  });

  it('5xx then success is retried; a persistent 5xx is unavailable', async () => {
    server.failNext(2, 500, { when: on('POST', '/v2/submit') });
    await controller.reconstruct(request('wire-5xx'));
    server.failNext(10, 503, { when: on('GET', '/v2/tasks/') });
    await rejectsWith(controller.status('wire-5xx'), 'unavailable', /gave up after 3/);
    server.clearFaults();
  });

  it('a timeout is unavailable; a malformed reply is internal', async () => {
    const impatient = controllerFor(server, {
      timeoutMs: 50,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    server.delayNext(2, 400, on('POST', '/v2/submit'));
    await rejectsWith(
      impatient.reconstruct(request('wire-slow')),
      'unavailable',
      /no answer within 50 ms/,
    );
    server.malformNext(1, '{"results": []}', on('POST', '/v2/submit'));
    await rejectsWith(controller.reconstruct(request('wire-bad')), 'internal', /unexpected reply/);
  });
});
