import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  SfapiController,
  type SfapiControllerOptions,
} from '../../shared/adapters/nersc/sfapiController.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import type { RecordedRequest } from '../servers/jsonRouteServer.js';
import { startSfapiServer, type SfapiServer } from '../servers/sfapiServer.js';
import { runHpcContract, waitForHpcEnd } from './hpc.contract.js';

const token = 'sfapi-token-3d9f';

function controllerFor(server: SfapiServer, options: Partial<SfapiControllerOptions> = {}) {
  return new SfapiController({
    baseUrl: `${server.url}/api/v1.2`,
    token,
    account: 'als',
    image: 'registry.nersc.gov/als/tomopy:2024.11',
    reconstructCommand: ['python', '/alsuser/sfapi_reconstruction.py'],
    multiResolutionCommand: ['python', '/alsuser/tiff_to_zarr.py'],
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    timeoutMs: 2000,
    ...options,
  });
}

runHpcContract('SfapiController (local Superfacility API server)', async () => {
  const server = await startSfapiServer({ token });
  return {
    controller: controllerFor(server),
    inputs: {
      ok: '/pscratch/sd/a/alsdev/raw/scan.h5',
      fail: '/pscratch/sd/a/alsdev/raw/fail.h5',
      slow: '/pscratch/sd/a/alsdev/raw/slow.h5',
    },
    output: '/pscratch/sd/a/alsdev/scratch/out',
    started: () => Promise.resolve(server.jobCount()),
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

describe('SfapiController: on the wire', () => {
  let server: SfapiServer;
  let controller: SfapiController;
  before(async () => {
    server = await startSfapiServer({ token });
    controller = controllerFor(server);
  });
  after(() => server.close());

  const request = (jobId: string, input = '/pscratch/raw/scan.h5') => ({
    jobId,
    input,
    output: '/pscratch/out',
  });

  it('posts the batch script as the form field job with isPath=false; values are quoted', async () => {
    await controller.reconstruct({
      ...request('wire-1'),
      options: { qos: 'debug', time: '00:30:00' },
    });
    const post = server.requests.find(on('POST', '/compute/jobs/perlmutter'));
    assert.equal(post?.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal((post?.body as { isPath: string }).isPath, 'false');
    const script = server.scripts[0] ?? '';
    assert.match(script, /^#!\/bin\/bash\n/);
    assert.match(script, /#SBATCH --job-name='wire-1'/);
    assert.match(script, /#SBATCH -A 'als'/);
    assert.match(script, /#SBATCH -q 'debug'/);
    assert.match(script, /#SBATCH --time='00:30:00'/);
    assert.match(
      script,
      /podman-hpc run --rm .*'registry.nersc.gov\/als\/tomopy:2024.11' 'python' '\/alsuser\/sfapi_reconstruction.py' '\/pscratch\/raw\/scan.h5' '\/pscratch\/out'/,
    );
    assert.ok(server.requests.every((r) => r.headers.authorization === `Bearer ${token}`));
    assert.equal((await waitForHpcEnd(controller, 'wire-1')).final.state, 'succeeded');
    assert.ok(
      server.requests.some(
        (r) => on('GET', '/compute/jobs/perlmutter/')(r) && r.query.sacct === 'true',
      ),
    );
  });

  it('refuses unsafe options and settings before any request', async () => {
    const before = server.requests.length;
    await rejectsWith(
      controller.reconstruct({ ...request('wire-opt'), options: { qos: 'debug; rm -rf /' } }),
      'validation',
    );
    await rejectsWith(
      controller.reconstruct({ ...request('wire-opt'), options: { mail: 'x' } }),
      'validation',
    );
    assert.throws(
      () => controllerFor(server, { account: "als' && curl evil" }),
      (e) => isBatonError(e, 'validation'),
    );
    assert.throws(
      () => controllerFor(server, { image: 'img $(id)' }),
      (e) => isBatonError(e, 'validation'),
    );
    assert.equal(server.requests.length, before);
  });

  it('an sbatch error in the task result is a failed job with the reason', async () => {
    await controller.reconstruct(request('wire-sbatch', '/pscratch/raw/sbatch-error.h5'));
    const { final } = await waitForHpcEnd(controller, 'wire-sbatch');
    assert.equal(final.state, 'failed');
    assert.match(final.reason ?? '', /sbatch: error/);
  });

  it('4xx map to user errors; a wrong token is forbidden and never shown', async () => {
    server.failNext(1, 422, { when: on('POST', '/compute/jobs/'), message: 'field required' });
    await rejectsWith(controller.reconstruct(request('wire-422')), 'validation', /field required/);
    server.failNext(1, 403, { when: on('POST', '/compute/jobs/') });
    await rejectsWith(controller.reconstruct(request('wire-403')), 'forbidden');
    const wrong = controllerFor(server, { token: 'nope-token' });
    await assert.rejects(wrong.reconstruct(request('wire-401')), (err) => {
      assert.ok(isBatonError(err, 'forbidden'));
      assert.doesNotMatch(err.message, /nope-token/);
      assert.doesNotMatch(JSON.stringify(wrong), /nope-token/);
      return true;
    });
  });

  it('5xx then success is retried; a persistent 5xx is unavailable', async () => {
    await controller.reconstruct(request('wire-5xx'));
    server.failNext(2, 502, { when: on('GET', '/compute/jobs/') });
    assert.ok(
      ['queued', 'running', 'succeeded'].includes((await controller.status('wire-5xx')).state),
    );
    server.failNext(10, 503, { when: on('GET', '/compute/jobs/') });
    await rejectsWith(controller.status('wire-5xx'), 'unavailable', /gave up after 3/);
    server.clearFaults();
  });

  it('a timeout is unavailable; a malformed reply is internal', async () => {
    const impatient = controllerFor(server, {
      timeoutMs: 50,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    server.delayNext(2, 400, on('POST', '/compute/jobs/'));
    await rejectsWith(
      impatient.reconstruct(request('wire-slow')),
      'unavailable',
      /no answer within 50 ms/,
    );
    server.malformNext(1, '{"status": 5}', on('POST', '/compute/jobs/'));
    await rejectsWith(controller.reconstruct(request('wire-bad')), 'internal', /unexpected reply/);
  });
});
