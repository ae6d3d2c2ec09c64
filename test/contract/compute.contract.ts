import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { ComputeBackend, JobSpec, JobStatus } from '../../shared/ports/compute.js';
import { waitForJob } from '../../shared/adapters/local/processCompute.js';

/**
 * The behaviours every test job can be asked for. Each adapter maps them to something its
 * world can run: `node -e` locally, an image plus command for the container fake.
 */
export type TestCommand =
  /** Writes `stdout` to stdout and `stderr` to stderr, exits 0. */
  | { kind: 'succeed'; stdout: string; stderr: string }
  /** Exits with `exitCode` (non-zero). */
  | { kind: 'fail'; exitCode: number }
  /** Sleeps, then writes `stdout` (if any) and exits 0. */
  | { kind: 'sleep'; seconds: number; stdout?: string }
  /** Writes JSON `{ name: value | null }` for each name. */
  | { kind: 'print-env'; names: string[] }
  /** Writes `JSON.stringify(args)` where args are exactly the arguments it received. */
  | { kind: 'echo-args'; args: string[] }
  /** Keeps one core busy for `seconds` while holding `megabytes` MiB (touched), then exits 0. */
  | { kind: 'burn'; seconds: number; megabytes: number };

/** What an adapter's test file supplies to {@link runComputeContract}. */
export interface ComputeContractHarness {
  backend: ComputeBackend;
  commandFor(command: TestCommand): { argv: string[]; image?: string };
  /**
   * Whether the backend samples a monitored job (`metrics` has samples); false for a backend
   * that cannot, whose `metrics` must then be [] for every job.
   */
  samplesMetrics: boolean;
  /** Upper bound for a short job to finish; defaults to 15 s. */
  waitTimeoutMs?: number;
  /** Poll interval for waits; defaults to 25 ms. */
  pollMs?: number;
  cleanup?(): Promise<void>;
}

/**
 * Registers the ComputeBackend contract as node:test cases, so the local and the container
 * adapters are held to one definition of launch/status/logs/cancel semantics.
 */
export function runComputeContract(
  name: string,
  makeHarness: () => Promise<ComputeContractHarness>,
): void {
  describe(`ComputeBackend contract: ${name}`, () => {
    let h: ComputeContractHarness;
    const launched: string[] = [];
    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      for (const jobId of launched) await h.backend.cancel(jobId).catch(() => undefined);
      await h.cleanup?.();
    });

    const newId = (label: string): string => {
      const jobId = `${label}-${randomBytes(4).toString('hex')}`;
      launched.push(jobId);
      return jobId;
    };
    const run = async (
      command: TestCommand,
      extra: Pick<JobSpec, 'env' | 'timeoutSeconds' | 'monitor'> = {},
    ): Promise<{ jobId: string; status: JobStatus; logs: string }> => {
      const jobId = newId(command.kind);
      await h.backend.launch({ jobId, ...h.commandFor(command), ...extra });
      const status = await waitFor(jobId);
      return { jobId, status, logs: await h.backend.logs(jobId) };
    };
    const waitFor = (jobId: string): Promise<JobStatus> =>
      waitForJob(h.backend, jobId, {
        timeoutMs: h.waitTimeoutMs ?? 15_000,
        pollMs: h.pollMs ?? 25,
      });

    it('runs a job to success, exit code 0, stdout and stderr captured', async () => {
      const { jobId, status, logs } = await run({
        kind: 'succeed',
        stdout: 'out-1\n',
        stderr: 'err-1\n',
      });
      assert.equal(status.jobId, jobId);
      assert.equal(status.state, 'succeeded');
      assert.equal(status.exitCode, 0);
      assert.ok(status.startedAt && status.finishedAt, 'timestamps recorded');
      assert.ok(Date.parse(status.finishedAt) >= Date.parse(status.startedAt));
      assert.match(logs, /out-1/);
      assert.match(logs, /err-1/);
    });

    it('propagates a failing exit code', async () => {
      const { status } = await run({ kind: 'fail', exitCode: 3 });
      assert.equal(status.state, 'failed');
      assert.equal(status.exitCode, 3);
    });

    it('passes argv verbatim, hostile strings included', async () => {
      const args = [
        '$(touch /tmp/baton-contract-pwned)',
        '`id`',
        'a; echo b',
        `'single' "double"`,
        'line1\nline2',
        '  spaced  out  ',
        '--version',
        '',
        '*',
      ];
      const { status, logs } = await run({ kind: 'echo-args', args });
      assert.equal(status.state, 'succeeded');
      assert.deepEqual(JSON.parse(logs), args);
    });

    it('passes the spec env to the job', async () => {
      const env = { BATON_CONTRACT_A: 'alpha', BATON_CONTRACT_B: 'with spaces = and "quotes"' };
      const { status, logs } = await run(
        { kind: 'print-env', names: ['BATON_CONTRACT_A', 'BATON_CONTRACT_B'] },
        { env },
      );
      assert.equal(status.state, 'succeeded');
      assert.deepEqual(JSON.parse(logs), env);
    });

    it('keeps the last N lines with logs({ tail })', async () => {
      const { jobId } = await run({ kind: 'succeed', stdout: 'l1\nl2\nl3\nl4\n', stderr: '' });
      assert.equal(await h.backend.logs(jobId, { tail: 2 }), 'l3\nl4\n');
      assert.equal(await h.backend.logs(jobId, { tail: 0 }), '');
      assert.equal(await h.backend.logs(jobId, { tail: 10 }), 'l1\nl2\nl3\nl4\n');
    });

    it('times a job out after timeoutSeconds', async () => {
      const started = Date.now();
      const { status } = await run({ kind: 'sleep', seconds: 30 }, { timeoutSeconds: 1 });
      assert.equal(status.state, 'timed_out');
      assert.ok(Date.now() - started < 10_000, 'stopped long before the sleep ends');
    });

    it('cancels a running job; cancel is idempotent', async () => {
      const jobId = newId('cancel');
      await h.backend.launch({ jobId, ...h.commandFor({ kind: 'sleep', seconds: 30 }) });
      const running = await pollUntil(h.backend, jobId, (s) => s.state === 'running');
      assert.ok(running.startedAt, 'a running job has startedAt');
      const canceled = await h.backend.cancel(jobId);
      assert.equal(canceled.state, 'canceled');
      assert.equal((await h.backend.cancel(jobId)).state, 'canceled');
      assert.equal((await h.backend.status(jobId)).state, 'canceled');
    });

    it('cancel on a finished job changes nothing', async () => {
      const { jobId, status } = await run({ kind: 'succeed', stdout: 'x', stderr: '' });
      assert.deepEqual(await h.backend.cancel(jobId), status);
    });

    it('launch is idempotent by jobId: the second launch starts nothing', async () => {
      const jobId = newId('idem');
      const first = { ...h.commandFor({ kind: 'sleep', seconds: 0.5, stdout: 'first-run' }) };
      const second = { ...h.commandFor({ kind: 'succeed', stdout: 'second-run', stderr: '' }) };
      await h.backend.launch({ jobId, ...first });
      const again = await h.backend.launch({ jobId, ...second });
      assert.equal(again.jobId, jobId);
      assert.notEqual(again.state, 'succeeded', 'reports the first (still running) job');
      const final = await waitFor(jobId);
      assert.equal(final.state, 'succeeded');
      const logs = await h.backend.logs(jobId);
      assert.match(logs, /first-run/);
      assert.doesNotMatch(logs, /second-run/);
    });

    it('release frees an ended job (then not_found), is idempotent, refuses a running job', async () => {
      const isNotFound = (e: unknown): boolean => isBatonError(e, 'not_found');
      const { jobId } = await run({ kind: 'succeed', stdout: 'kept elsewhere', stderr: '' });
      await h.backend.release(jobId);
      await assert.rejects(h.backend.status(jobId), isNotFound);
      await assert.rejects(h.backend.logs(jobId), isNotFound);
      await h.backend.release(jobId);
      await h.backend.release(`nope-${randomBytes(4).toString('hex')}`);

      const busy = newId('busy');
      await h.backend.launch({ jobId: busy, ...h.commandFor({ kind: 'sleep', seconds: 30 }) });
      await assert.rejects(h.backend.release(busy), (e: unknown) => isBatonError(e, 'conflict'));
      assert.notEqual((await h.backend.status(busy)).state, 'succeeded');
      await h.backend.cancel(busy);
      await h.backend.release(busy);
      await assert.rejects(h.backend.status(busy), isNotFound);
    });

    it('metrics: a monitored job that burns CPU and holds memory yields samples; an unmonitored job yields []; unknown job not_found', async () => {
      const isNotFound = (e: unknown): boolean => isBatonError(e, 'not_found');
      const megabytes = 50;
      const monitored = await run(
        h.samplesMetrics
          ? { kind: 'burn', seconds: 1.5, megabytes }
          : { kind: 'succeed', stdout: 'monitored', stderr: '' },
        { monitor: { intervalSeconds: 0.2 } },
      );
      assert.equal(monitored.status.state, 'succeeded');
      const samples = await h.backend.metrics(monitored.jobId);
      if (h.samplesMetrics) {
        assert.ok(samples.length >= 3, `a sample every 0.2 s of 1.5 s, got ${samples.length}`);
        assert.ok(
          samples.some((s) => s.cpuPercent > 0),
          'cpuPercent > 0 at some sample',
        );
        const rssMax = Math.max(...samples.map((s) => s.rssBytes));
        assert.ok(rssMax >= megabytes * 1024 * 1024, `rss covers the buffer, got ${rssMax}`);
        for (const [i, s] of samples.entries()) {
          assert.ok(Number.isFinite(Date.parse(s.at)), `at is a timestamp: ${s.at}`);
          assert.ok(s.elapsedSeconds > (samples[i - 1]?.elapsedSeconds ?? 0), 'elapsed increases');
          assert.ok(s.cpuPercent >= 0 && s.rssBytes >= 0 && s.processes >= 0);
          assert.ok(s.systemMemoryTotalBytes > 0);
          assert.ok(s.systemMemoryUsedBytes > 0);
          assert.ok(s.systemMemoryUsedBytes <= s.systemMemoryTotalBytes);
        }
        assert.ok(
          samples.some((s) => s.processes >= 1 && s.rssBytes > 0),
          'a sample while the job ran',
        );
      } else {
        assert.deepEqual(samples, []);
      }

      const plain = await run({ kind: 'succeed', stdout: 'unmonitored', stderr: '' });
      assert.deepEqual(await h.backend.metrics(plain.jobId), []);
      await assert.rejects(h.backend.metrics(`nope-${randomBytes(4).toString('hex')}`), isNotFound);
      await h.backend.release(monitored.jobId);
      await assert.rejects(h.backend.metrics(monitored.jobId), isNotFound);
    });

    it('unknown jobs are not_found for status, logs and cancel', async () => {
      const jobId = `nope-${randomBytes(4).toString('hex')}`;
      const isNotFound = (e: unknown): boolean => isBatonError(e, 'not_found');
      await assert.rejects(h.backend.status(jobId), isNotFound);
      await assert.rejects(h.backend.logs(jobId), isNotFound);
      await assert.rejects(h.backend.cancel(jobId), isNotFound);
    });

    it('rejects invalid job ids and argv with validation', async () => {
      const ok = h.commandFor({ kind: 'succeed', stdout: '', stderr: '' });
      const isValidation = (e: unknown): boolean => isBatonError(e, 'validation');
      for (const jobId of ['Upper', '-lead', 'a/b', '../x', '', 'x'.repeat(64), 'a_b']) {
        await assert.rejects(h.backend.launch({ ...ok, jobId }), isValidation, jobId);
      }
      await assert.rejects(h.backend.launch({ ...ok, jobId: newId('v'), argv: [] }), isValidation);
      await assert.rejects(h.backend.status('../etc'), isValidation);
    });
  });
}

/** Polls until `accept` holds (or the job turns terminal), for mid-flight assertions. */
async function pollUntil(
  backend: ComputeBackend,
  jobId: string,
  accept: (status: JobStatus) => boolean,
  timeoutMs = 10_000,
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await backend.status(jobId);
    if (accept(status)) return status;
    if (Date.now() > deadline) assert.fail(`job ${jobId} stayed ${status.state}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
