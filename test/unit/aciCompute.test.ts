import { lastLines } from '../../shared/domain/logLines.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { ContainerGroup, ContainerState } from '@azure/arm-containerinstance';
import { AciBackend, type AciBackendOptions } from '../../shared/adapters/azure/aciCompute.js';
import {
  aciTags,
  jobStatusOf,
  overdueReason,
  readContainerGroup,
  toContainerGroup,
} from '../../shared/adapters/azure/aciContainerGroup.js';
import { waitForJob } from '../../shared/adapters/local/processCompute.js';
import { isBatonError, type BatonError } from '../../shared/domain/errors.js';
import type { JobSpec, JobStatus } from '../../shared/ports/compute.js';
import { createFakeAciClient, fakeSubscriptionId } from '../servers/arm/fakeAciClient.js';
import { nodeArgvFor } from '../contract/computeTestCommands.js';
import {
  startArmContainerServer,
  type ArmContainerServer,
  type RecordedRequest,
} from '../servers/armContainerServer.js';

const resourceGroup = 'baton-unit';
const image = 'node:20-alpine';
const newId = (label: string): string => `${label}-${randomBytes(4).toString('hex')}`;
const sleepJob = (seconds: number): Pick<JobSpec, 'argv' | 'image'> => ({
  argv: nodeArgvFor({ kind: 'sleep', seconds }),
  image,
});
const groupPath = (jobId: string): string => `/containerGroups/${jobId}`;
const isCode =
  (code: BatonError['code']) =>
  (error: unknown): boolean =>
    isBatonError(error, code);

/** A clock the tests can move forward, to cross deadlines without waiting for them. */
function movableClock(): { now(): Date; advance(seconds: number): void } {
  let skewMs = 0;
  return {
    now: () => new Date(Date.now() + skewMs),
    advance: (seconds) => {
      skewMs += seconds * 1000;
    },
  };
}

function backendFor(
  server: ArmContainerServer,
  options: Partial<AciBackendOptions> & { maxRetries?: number } = {},
): AciBackend {
  const { maxRetries, ...rest } = options;
  return new AciBackend({
    client: createFakeAciClient(server.url, maxRetries === undefined ? {} : { maxRetries }),
    resourceGroup,
    location: 'westeurope',
    defaultImage: image,
    pollIntervalMs: 20,
    retry: { attempts: 2, baseDelayMs: 10 },
    ...rest,
  });
}

async function pollUntil(
  backend: AciBackend,
  jobId: string,
  accept: (s: JobStatus) => boolean,
): Promise<JobStatus> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await backend.status(jobId);
    if (accept(status)) return status;
    if (Date.now() > deadline) assert.fail(`${jobId} stayed ${status.state}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('AciBackend against the ARM fake', () => {
  let server: ArmContainerServer;
  let backend: AciBackend;
  before(async () => {
    server = await startArmContainerServer({ stopGraceMs: 300 });
    backend = backendFor(server);
  });
  after(() => server.close());

  it('20 concurrent launches of one job id send exactly one PUT, with If-None-Match: *', async () => {
    const jobId = newId('burst');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => backend.launch({ jobId, ...sleepJob(0.2) })),
    );
    assert.ok(results.every((s) => s.jobId === jobId && s.state !== 'failed'));
    const puts = server.requestsTo('PUT', groupPath(jobId));
    assert.equal(puts.length, 1);
    assert.equal(puts[0]?.headers['if-none-match'], '*');
    assert.equal((await waitForJob(backend, jobId, { pollMs: 20 })).state, 'succeeded');
    // A later launch finds the group and sends no PUT either.
    await backend.launch({ jobId, ...sleepJob(0.2) });
    assert.equal(server.requestsTo('PUT', groupPath(jobId)).length, 1);
  });

  it('two processes racing past the GET create one group: the loser gets 412 and reports the winner', async () => {
    const jobId = newId('race');
    const other = backendFor(server);
    const heldGets: (() => void)[] = [];
    server.intercept = (request) => {
      if (request.method !== 'GET' || !request.path.endsWith(groupPath(jobId))) return;
      if (heldGets.length >= 2) return;
      // Hold both first GETs until both arrived: each side then believes the group is new.
      return new Promise<void>((resolve) => {
        heldGets.push(resolve);
        if (heldGets.length === 2) for (const release of heldGets) release();
      });
    };
    try {
      const [a, b] = await Promise.all([
        backend.launch({ jobId, ...sleepJob(0.3) }),
        other.launch({ jobId, argv: nodeArgvFor({ kind: 'fail', exitCode: 9 }), image }),
      ]);
      assert.equal(a.jobId, jobId);
      assert.equal(b.jobId, jobId);
    } finally {
      server.intercept = undefined;
    }
    const puts = server.requestsTo('PUT', groupPath(jobId));
    assert.deepEqual(puts.map((p) => p.status).sort(), [201, 412]);
    const final = await waitForJob(backend, jobId, { pollMs: 20 });
    const winner = puts.find((p) => p.status === 201);
    const winnerRanFail = JSON.stringify(winner?.body).includes('process.exit');
    assert.equal(final.state, winnerRanFail ? 'failed' : 'succeeded', 'one job ran, the winner');
  });

  it('secret-looking env goes as secureValue, reaches the job, and is never echoed', async () => {
    const jobId = newId('secret');
    const secret = `s3cr3t-${randomBytes(6).toString('hex')}`;
    const env = { API_TOKEN: secret, DB_PASSWORD: `${secret}-db`, PLAIN_SETTING: 'visible' };
    await backend.launch({
      jobId,
      argv: nodeArgvFor({ kind: 'print-env', names: ['API_TOKEN', 'PLAIN_SETTING'] }),
      image,
      env,
    });
    const put = server.requestsTo('PUT', groupPath(jobId))[0];
    const sent = (put?.body as ContainerGroupWire).properties.containers[0]?.properties
      .environmentVariables;
    assert.deepEqual(sent, [
      { name: 'API_TOKEN', secureValue: secret },
      { name: 'DB_PASSWORD', secureValue: `${secret}-db` },
      { name: 'PLAIN_SETTING', value: 'visible' },
    ]);
    const status = await waitForJob(backend, jobId, { pollMs: 20 });
    assert.equal(status.state, 'succeeded');
    assert.deepEqual(JSON.parse(await backend.logs(jobId)), {
      API_TOKEN: secret,
      PLAIN_SETTING: 'visible',
    });
    const client = createFakeAciClient(server.url);
    const fetched = await client.containerGroups.get(resourceGroup, jobId);
    assert.ok(!JSON.stringify(fetched).includes(secret), 'ARM (and the fake) never echo it');
    assert.ok(!JSON.stringify(status).includes(secret));
  });

  it('an ARM error echoing a secret is masked; persistent 500s end as retryable unavailable', async () => {
    const secret = `pw-${randomBytes(6).toString('hex')}`;
    const isPut = (r: RecordedRequest): boolean => r.method === 'PUT';
    const spec = (jobId: string): JobSpec => ({
      jobId,
      ...sleepJob(1),
      env: { SERVICE_KEY: secret },
    });
    const leaks = (error: BatonError): boolean =>
      [error.message, JSON.stringify(error), inspect(error, { depth: Infinity })].some((text) =>
        text.includes(secret),
      );

    server.failNext(1, {
      status: 400,
      code: 'InvalidEnvironmentVariable',
      message: `environment variable value '${secret}' is not allowed`,
      match: isPut,
    });
    const rejected = await backend.launch(spec(newId('echo'))).catch((e: unknown) => e);
    assert.ok(isBatonError(rejected, 'validation'), String(rejected));
    assert.match(rejected.message, /\*\*\*/);
    assert.ok(!leaks(rejected), 'the secret does not leak through message, JSON or inspect');

    server.failNext(100, { status: 500, message: `boom ${secret}`, match: isPut });
    try {
      const failed = await backend.launch(spec(newId('boom'))).catch((e: unknown) => e);
      assert.ok(isBatonError(failed, 'unavailable'), String(failed));
      assert.equal(failed.retryable, true);
      assert.ok(!leaks(failed));
    } finally {
      server.clearFaults();
    }
  });

  it('a job past its timeout is tagged timed_out, stopped, and stays timed_out', async () => {
    const clock = movableClock();
    const timed = backendFor(server, { clock });
    const jobId = newId('timeout');
    await timed.launch({ jobId, ...sleepJob(30), timeoutSeconds: 60 });
    await pollUntil(timed, jobId, (s) => s.state === 'running');
    assert.equal(server.requestsTo('POST', `${groupPath(jobId)}/stop`).length, 0);
    clock.advance(61);
    const status = await timed.status(jobId);
    assert.equal(status.state, 'timed_out');
    assert.equal(status.message, 'timed out after 60 s');
    const patch = server.requestsTo('PATCH', groupPath(jobId))[0];
    assert.equal(
      (patch?.body as { tags: Record<string, string> }).tags[aciTags.outcome],
      'timed_out',
    );
    assert.equal(server.requestsTo('POST', `${groupPath(jobId)}/stop`).length, 1);
    assert.equal(server.group(jobId)?.live, false, 'the container was stopped');
    const again = await timed.status(jobId);
    assert.equal(again.state, 'timed_out');
    assert.equal(again.finishedAt, status.finishedAt, 'the recorded outcome is stable');
    assert.equal((await timed.cancel(jobId)).state, 'timed_out', 'cancel changes nothing');
    // Where ARM has no log for a stopped group, an existing job's log reads as empty.
    server.failNext(1, {
      status: 400,
      code: 'ContainerGroupStopped',
      message: 'the container group is stopped',
      match: (r) => r.path.endsWith('/logs'),
    });
    assert.equal(await timed.logs(jobId), '');
  });

  it('cancel tags before it stops; a lost stop is repeated by the next status', async () => {
    const jobId = newId('lost');
    await backend.launch({ jobId, ...sleepJob(30) });
    await pollUntil(backend, jobId, (s) => s.state === 'running');
    server.failNext(1, {
      status: 409,
      code: 'Conflict',
      message: 'another operation is in progress',
      match: (r) => r.method === 'POST',
    });
    await assert.rejects(backend.cancel(jobId), isCode('conflict'));
    assert.equal(server.group(jobId)?.live, true, 'the stop did not happen');
    const status = await backend.status(jobId);
    assert.equal(status.state, 'canceled');
    assert.equal(server.group(jobId)?.live, false, 'status repeated the stop');
    const calls = server.requests
      .filter((r) => r.path.includes(groupPath(jobId)) && r.method !== 'GET')
      .map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(calls, ['PUT 201', 'PATCH 200', 'POST 409', 'POST 204']);
  });

  it('honours 429 + Retry-After: in the SDK pipeline, and in the adapter when the SDK gives up', async () => {
    const jobId = newId('throttle');
    await backend.launch({ jobId, ...sleepJob(0.1) });
    const isGet = (r: RecordedRequest): boolean =>
      r.method === 'GET' && r.path.endsWith(groupPath(jobId));
    const gets = (): number => server.requests.filter(isGet).length;

    let before = gets();
    server.failNext(1, { status: 429, retryAfterSeconds: 1, match: isGet });
    let started = Date.now();
    assert.equal((await backend.status(jobId)).jobId, jobId);
    assert.ok(Date.now() - started >= 900, 'waited for Retry-After');
    assert.equal(gets() - before, 2);

    const noSdkRetries = backendFor(server, { maxRetries: 0 });
    before = gets();
    server.failNext(1, { status: 429, retryAfterSeconds: 1, match: isGet });
    started = Date.now();
    assert.equal((await noSdkRetries.status(jobId)).jobId, jobId);
    assert.ok(Date.now() - started >= 900, 'callAzure waited for Retry-After');
    assert.equal(gets() - before, 2);
  });

  it('refuses invalid names and specs before sending any request', async () => {
    const count = server.requests.length;
    const names = ['a--b', 'ends-', '-lead', 'Upper', 'x'.repeat(64), 'a_b', '', 'a.b', '../x'];
    for (const jobId of names) {
      await assert.rejects(backend.launch({ jobId, ...sleepJob(1) }), isCode('validation'), jobId);
      await assert.rejects(backend.status(jobId), isCode('validation'), jobId);
      await assert.rejects(backend.logs(jobId), isCode('validation'), jobId);
      await assert.rejects(backend.cancel(jobId), isCode('validation'), jobId);
    }
    const jobId = newId('spec');
    const bad: Partial<JobSpec>[] = [
      { argv: [] },
      { argv: [''] },
      { env: { 'BAD-NAME': 'x' } },
      { cpu: 0 },
      { memoryGb: Number.NaN },
      { timeoutSeconds: -1 },
      { cwd: '/work' },
      { image: 'has space' },
    ];
    for (const override of bad) {
      await assert.rejects(
        backend.launch({ jobId, ...sleepJob(1), ...override }),
        isCode('validation'),
        JSON.stringify(override),
      );
    }
    const noDefault = backendFor(server, { defaultImage: undefined });
    await assert.rejects(
      noDefault.launch({ jobId, argv: ['true'] }),
      (e: unknown) => isBatonError(e, 'validation') && e.field === 'image',
    );
    await assert.rejects(backend.logs(newId('tail'), { tail: -1 }), isCode('validation'));
    assert.equal(server.requests.length, count, 'no request was sent');
  });

  it('the real SDK completes create and delete LROs against the fake', async () => {
    const jobId = newId('lro');
    const client = createFakeAciClient(server.url);
    const { group } = toContainerGroup(
      { jobId, ...sleepJob(30) },
      { location: 'westeurope', osType: 'Linux', createdAt: new Date() },
    );
    const created = await client.containerGroups.beginCreateOrUpdateAndWait(
      resourceGroup,
      jobId,
      group,
      { updateIntervalInMs: 10 },
    );
    assert.equal(created.provisioningState, 'Succeeded');
    assert.equal(created.containers[0]?.instanceView?.currentState?.state, 'Running');
    const pid = server.group(jobId)?.pid;
    assert.ok(pid !== undefined);
    await client.containerGroups.beginDeleteAndWait(resourceGroup, jobId, {
      updateIntervalInMs: 10,
    });
    assert.equal(server.group(jobId), undefined);
    assert.throws(() => process.kill(pid, 0), 'the container process group is gone');
    await assert.rejects(backend.status(jobId), isCode('not_found'));
    const ops = server.requests.filter((r) => r.path.includes('/operations/'));
    assert.ok(ops.length >= 2, 'both LROs were polled through Azure-AsyncOperation');
    assert.ok(ops.every((r) => r.path.startsWith(`/subscriptions/${fakeSubscriptionId}/`)));
  });
});

describe('AciBackend: groups that do not start', () => {
  let server: ArmContainerServer;
  before(async () => {
    server = await startArmContainerServer({ startDelayMs: 60_000, knownImages: [image] });
  });
  after(() => server.close());

  it('a group still pending after startTimeoutSeconds is timed out; its log is empty meanwhile', async () => {
    const clock = movableClock();
    const backend = backendFor(server, { clock, startTimeoutSeconds: 600 });
    const jobId = newId('stuck');
    assert.equal((await backend.launch({ jobId, ...sleepJob(1) })).state, 'pending');
    assert.equal(await backend.logs(jobId), '');
    assert.equal(await backend.logs(jobId, { tail: 0 }), '');
    clock.advance(601);
    const status = await backend.status(jobId);
    assert.equal(status.state, 'timed_out');
    assert.match(status.message ?? '', /did not start within 600 s/);
  });

  it('an image that cannot be pulled reports failed with the reason', async () => {
    const quick = await startArmContainerServer({ knownImages: [image] });
    try {
      const backend = backendFor(quick);
      const jobId = newId('pull');
      await backend.launch({ jobId, argv: ['run'], image: 'example.invalid/missing:1' });
      const status = await waitForJob(backend, jobId, { pollMs: 20, timeoutMs: 5000 });
      assert.equal(status.state, 'failed');
      assert.match(status.message ?? '', /Failed to pull image "example.invalid\/missing:1"/);
    } finally {
      await quick.close();
    }
  });
});

describe('ACI container group mapping', () => {
  const at = (iso: string): Date => new Date(iso);
  const groupWith = (
    currentState: ContainerState | undefined,
    extra: Partial<ContainerGroup> & { groupState?: string } = {},
  ): ContainerGroup => {
    const { groupState, ...rest } = extra;
    return {
      osType: 'Linux',
      provisioningState: 'Succeeded',
      containers: [
        {
          name: 'job',
          image,
          resources: { requests: { cpu: 1, memoryInGB: 1.5 } },
          instanceView: currentState === undefined ? undefined : { currentState },
        },
      ],
      instanceView: groupState === undefined ? undefined : { state: groupState },
      ...rest,
    };
  };
  const stateOf = (group: ContainerGroup): JobStatus => jobStatusOf('j', readContainerGroup(group));

  it('maps container and group states to job states', () => {
    assert.equal(stateOf(groupWith(undefined, { provisioningState: 'Pending' })).state, 'pending');
    assert.equal(stateOf(groupWith({ state: 'Waiting' })).state, 'pending');
    const running = stateOf(groupWith({ state: 'Running', startTime: at('2024-01-01T00:00:01Z') }));
    assert.deepEqual(running, {
      jobId: 'j',
      state: 'running',
      startedAt: '2024-01-01T00:00:01.000Z',
    });
    const done = {
      state: 'Terminated',
      startTime: at('2024-01-01T00:00:01Z'),
      finishTime: at('2024-01-01T00:00:05Z'),
    };
    assert.equal(stateOf(groupWith({ ...done, exitCode: 0 })).state, 'succeeded');
    assert.deepEqual(stateOf(groupWith({ ...done, exitCode: 3 })), {
      jobId: 'j',
      state: 'failed',
      exitCode: 3,
      startedAt: '2024-01-01T00:00:01.000Z',
      finishedAt: '2024-01-01T00:00:05.000Z',
      message: 'exited with code 3',
    });
    const unpulled = groupWith(
      { state: 'Waiting', detailStatus: 'ErrImagePull' },
      { provisioningState: 'Failed' },
    );
    assert.equal(stateOf(unpulled).state, 'failed');
    assert.match(stateOf(unpulled).message ?? '', /ErrImagePull/);
    assert.equal(
      stateOf(groupWith({ state: 'Running' }, { groupState: 'Stopped' })).state,
      'canceled',
    );
  });

  it("Baton's outcome tags win, and only live jobs are overdue", () => {
    const tags = {
      [aciTags.outcome]: 'canceled',
      [aciTags.outcomeAt]: '2024-01-01T00:00:03.000Z',
      [aciTags.outcomeMessage]: 'canceled',
    };
    const exited = { state: 'Terminated', exitCode: 143, finishTime: at('2024-01-01T00:00:04Z') };
    const canceled = stateOf(groupWith(exited, { tags }));
    assert.equal(canceled.state, 'canceled');
    assert.equal(canceled.finishedAt, '2024-01-01T00:00:03.000Z');
    const running = readContainerGroup(
      groupWith(
        { state: 'Running', startTime: at('2024-01-01T00:00:00Z') },
        { tags: { [aciTags.timeoutSeconds]: '10' } },
      ),
    );
    assert.equal(overdueReason(running, at('2024-01-01T00:00:09Z'), 600), undefined);
    assert.equal(overdueReason(running, at('2024-01-01T00:00:10Z'), 600), 'timed out after 10 s');
    const finished = readContainerGroup(
      groupWith({ ...exited, exitCode: 0 }, { tags: { [aciTags.timeoutSeconds]: '1' } }),
    );
    assert.equal(overdueReason(finished, at('2030-01-01T00:00:00Z'), 600), undefined);
  });

  it('builds the PUT body: argv as the exec command, restartPolicy Never, limits in tags', () => {
    const argv = ['python', '-c', 'print(1)', '$(not a shell)', ''];
    const { group, secrets } = toContainerGroup(
      {
        jobId: 'run-1-a1',
        argv,
        env: { A: '1', GITHUB_TOKEN: 't' },
        cpu: 2,
        memoryGb: 4,
        timeoutSeconds: 90,
      },
      {
        location: 'westeurope',
        osType: 'Linux',
        defaultImage: image,
        createdAt: at('2024-01-01T00:00:00Z'),
      },
    );
    assert.deepEqual(group, {
      location: 'westeurope',
      tags: { [aciTags.createdAt]: '2024-01-01T00:00:00.000Z', [aciTags.timeoutSeconds]: '90' },
      osType: 'Linux',
      restartPolicy: 'Never',
      containers: [
        {
          name: 'job',
          image,
          command: argv,
          environmentVariables: [
            { name: 'A', value: '1' },
            { name: 'GITHUB_TOKEN', secureValue: 't' },
          ],
          resources: { requests: { cpu: 2, memoryInGB: 4 } },
        },
      ],
    });
    assert.deepEqual(secrets, ['t']);
  });

  it('tails like the local backend', () => {
    assert.equal(lastLines('l1\nl2\nl3\n', 2), 'l2\nl3\n');
    assert.equal(lastLines('l1\nl2\nl3', 2), 'l2\nl3');
    assert.equal(lastLines('l1\n', 5), 'l1\n');
    assert.equal(lastLines('l1\n', 0), '');
    assert.equal(lastLines('', 3), '');
  });
});

/** The wire shape of a PUT body, as far as these tests read it. */
interface ContainerGroupWire {
  properties: {
    containers: {
      properties: {
        environmentVariables?: { name: string; value?: string; secureValue?: string }[];
      };
    }[];
  };
}
