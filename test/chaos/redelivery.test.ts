import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../shared/app/config.js';
import { createLocalServices } from '../../shared/app/services.js';
import { leaseCollection } from '../../shared/app/taskScheduler.js';
import { isTaskJobMessage } from '../../shared/app/taskJobs.js';
import {
  registeredFunctions,
  type RegisteredFunction,
} from '../../shared/runtime/functionRegistry.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { recordTallies } from '../campaign/tally.js';
import { api, repoRoot, runToEnd } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';
import {
  EffectLedger,
  repeatedEffects,
  repeatingEffects,
  substantive,
  type Delivery,
  type Effect,
} from './effectLedger.js';
import { copyBeamlineExample } from '../helpers/beamlineSources.js';

/**
 * Redelivery: every activity and every queue message of the app is delivered more than once,
 * on a live in-process local host with the real local adapters. Each registered activity's
 * handler (taken from the one function registry, so a new activity cannot be missed) is
 * wrapped: every invocation runs twice at the same time, then once more after both ended.
 * Each queue function's handler gets every message twice at the same time, and once more
 * *late*, after the next message of its queue (out of order), or at the end.
 *
 * The app's ports are wrapped by an {@link EffectLedger}, which attributes each side effect
 * (lake file written, state document created or changed, message sent, compute job launched)
 * to the delivery that made it. A side effect happened twice when a repeated delivery made
 * one: the sequential or late delivery changed anything, or the two concurrent ones both
 * changed the same thing or both created something in the same place. The pipelines are the
 * examples' (hello, command, ml with a pruned sweep, model runs that pass and fail, the
 * beamline's new-file flow with reconstruction and its test-transfers probe, a task), run at
 * once; the cancel activities, which only a timeout calls, get inputs derived from the runs.
 */
interface Invocation {
  fn: string;
  kind: 'activity' | 'message';
  type: string;
  together: [Delivery, Delivery];
  again?: Delivery;
  /** Errors of the repeated deliveries while the first succeeded. */
  repeatFailures: string[];
}

const modelExample = path.join(repoRoot, 'examples', 'transport-model');
const mlScript = (name: string): string => path.join(repoRoot, 'examples', 'ml', name);
/**
 * The scheduler's tick lease, taken and let go by every tick, and requests for a tick (coalesced;
 * a tick only plans): never a side effect of their own. What ticks hand out is checked below.
 */
const bookkeeping = (e: Effect): boolean =>
  (e.kind === 'state' && e.group === leaseCollection) ||
  (e.kind === 'bus' && e.group === 'schedule-tasks');
/** Ticks plan from what they find: a repeated one may hand out slots freed meanwhile. */
const planners = new Set(['scheduleTasksOnDemand']);

describe('redelivery: every activity and queue message delivered more than once', () => {
  let stateDir = '';
  let sources = '';
  let host: LocalHost | undefined;
  const ledger = new EffectLedger();
  const invocations: Invocation[] = [];
  const inputs = new Map<string, unknown[]>();
  const results = new Map<string, unknown>();
  const late = new Map<string, Array<() => Promise<void>>>();
  const lateRunning: Promise<void>[] = [];
  let serial = 0;
  let longRun = '';

  const call = async (method: string, route: string, body?: unknown): Promise<Response> =>
    fetch(`${host?.url ?? ''}/api/${route}`, {
      method,
      headers: asUser('alice'),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  /** Asserts the status and returns the body (read once). */
  async function expect<T>(response: Response, status: number): Promise<T> {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return JSON.parse(text) as T;
  }

  const delivery = (fn: string, invocation: string, label: string): Delivery => ({
    fn,
    invocation,
    label,
    effects: [],
  });

  function firstResult(settled: PromiseSettledResult<unknown>[]): unknown {
    const ok = settled.find((s) => s.status === 'fulfilled');
    if (ok) return ok.value;
    throw (settled[0] as PromiseRejectedResult).reason;
  }

  function wrapActivity(fn: RegisteredFunction): void {
    const handler = fn.handler;
    fn.handler = async (input: unknown, context: unknown) => {
      inputs.set(fn.name, [...(inputs.get(fn.name) ?? []), input]);
      const id = `${fn.name}#${++serial}`;
      const run = (d: Delivery): Promise<unknown> =>
        ledger.deliver(d, async () => handler(structuredClone(input), context));
      const together: [Delivery, Delivery] = [
        delivery(fn.name, id, 'first'),
        delivery(fn.name, id, 'concurrent'),
      ];
      const settled = await Promise.allSettled(together.map(run));
      const entry: Invocation = {
        fn: fn.name,
        kind: 'activity',
        type: fn.name,
        together,
        repeatFailures: settled
          .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
          .map((s) => String(s.reason)),
      };
      invocations.push(entry);
      const result = firstResult(settled);
      results.set(fn.name, result);
      // Delivered again after both ended: an at-least-once activity whose result was lost.
      entry.again = delivery(fn.name, id, 'again');
      await run(entry.again).catch((error: unknown) => entry.repeatFailures.push(String(error)));
      return result;
    };
  }

  function wrapQueueFunction(fn: RegisteredFunction): void {
    const handler = fn.handler;
    fn.handler = async (body: unknown, context: unknown) => {
      const id = `${fn.name}#${++serial}`;
      const run = (d: Delivery): Promise<unknown> =>
        ledger.deliver(d, async () => handler(structuredClone(body), context));
      const together: [Delivery, Delivery] = [
        delivery(fn.name, id, 'first'),
        delivery(fn.name, id, 'concurrent'),
      ];
      const settled = await Promise.allSettled(together.map(run));
      const entry: Invocation = {
        fn: fn.name,
        kind: 'message',
        type:
          fn.name === 'scheduleTasksOnDemand'
            ? 'tick'
            : `${fn.name}:${isTaskJobMessage(body) ? 'task' : 'run'}`,
        together,
        repeatFailures: [],
      };
      invocations.push(entry);
      // Out of order: the copies held back for this queue arrive after this newer message.
      const older = late.get(fn.name) ?? [];
      late.set(fn.name, []);
      for (const deliverLate of older) lateRunning.push(deliverLate());
      late.get(fn.name)?.push(async () => {
        entry.again = delivery(fn.name, id, 'late');
        await run(entry.again).catch((error: unknown) => entry.repeatFailures.push(String(error)));
      });
      return firstResult(settled);
    };
  }

  async function deliverLateCopies(): Promise<void> {
    for (;;) {
      const pending = [...late.values()].flat();
      for (const fns of late.values()) fns.length = 0;
      const running = lateRunning.splice(0);
      if (pending.length === 0 && running.length === 0) return;
      await Promise.all([...running, ...pending.map((f) => f())]);
    }
  }

  before(async () => {
    sources = await mkdtemp(path.join(os.tmpdir(), 'baton-redeliver-src-'));
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-redeliver-'));
    await copyBeamlineExample(sources);
    await cp(modelExample, path.join(sources, 'transport-model'), { recursive: true });
    const env = {
      ...process.env,
      BATON_MODEL_SOURCES_ROOT: sources,
      BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
      BATON_SCHEDULER_SCHEDULE: '*/2 * * * * *',
      BATON_BACKEND_SLOTS: 'local=3',
      BATON_TASK_RETRY_BACKOFF_SECONDS: '0',
    };
    const config = loadConfig({ ...env, BATON_STATE_DIR: stateDir });
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env,
      services: ledger.wrap(createLocalServices(config)),
    });
    for (const fn of registeredFunctions()) {
      if (fn.triggerType === 'activityTrigger') wrapActivity(fn);
      if (fn.triggerType === 'serviceBusTrigger') wrapQueueFunction(fn);
    }
  });
  after(async () => {
    if (longRun)
      await api(`${host?.url ?? ''}/api/runs/${longRun}/cancel`, 'POST', {}).catch(() => undefined);
    await host?.stop();
    if (stateDir)
      await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    if (sources) await rm(sources, { recursive: true, force: true });
  });

  async function modelRun(
    name: string,
    failing: boolean,
  ): Promise<{ status: string; error?: string }> {
    let config = (await readFile(path.join(modelExample, 'orca_model_config.yaml'), 'utf8'))
      .replace('total: 2', 'total: 1')
      .replace("ACTIVITYSIM_SECONDS: '1'", "ACTIVITYSIM_SECONDS: '0'");
    if (failing) {
      config = config.replace(
        "command: ['node', 'scripts/quetzal.mjs']",
        "command: ['node', '-e', 'process.exit(3)']",
      );
    }
    const created = await call('POST', 'databanks', {
      name,
      config,
      sourceDir: path.join(sources, 'transport-model'),
    });
    await expect(created, 201);
    return runToEnd(host?.url ?? '', { pipeline: 'model', params: { databank: name } }, 120_000);
  }

  async function task(): Promise<{ state: string; jobs: number }> {
    const lake = (rel: string): string => path.join(stateDir, 'lake', ...rel.split('/'));
    await mkdir(lake('alice/configs'), { recursive: true });
    await mkdir(lake('alice/data'), { recursive: true });
    await writeFile(lake('alice/data/table.csv'), 'x,y\n1,2\n');
    for (let i = 0; i < 3; i++) await writeFile(lake(`alice/configs/c${i}.json`), `{"i":${i}}`);
    for (const [name, p] of [
      ['user.alice.configs', 'alice/configs'],
      ['user.alice.data', 'alice/data'],
    ] as const) {
      const registered = await call('POST', 'datasets', { name, path: p });
      await expect(registered, 201);
    }
    const created = await call('POST', 'tasks', {
      name: 'user.alice.redelivered',
      configDataset: 'user.alice.configs',
      dataDataset: 'user.alice.data',
      exec: 'mkdir %OUT && ls %DATA > %OUT/files.txt && echo done-with-%IN',
      bypass: true,
    });
    await expect(created, 201);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const view = (await (await call('GET', 'tasks/user.alice.redelivered')).json()) as {
        state: string;
        jobs: number;
      };
      if (!['registered', 'testing', 'running'].includes(view.state)) return view;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('the task did not settle');
  }

  it(
    'runs every pipeline to its usual end, with no side effect applied twice',
    { timeout: 170_000 },
    async () => {
      const url = host?.url ?? '';
      const landing = path.join(stateDir, 'lake', 'landing', 'bl832', '2026', 'scan_0001.h5');
      await mkdir(path.dirname(landing), { recursive: true });
      await writeFile(landing, 'HDF5 stand-in\n'.repeat(100));
      const trial = [
        "const { appendFileSync } = require('node:fs');",
        'const { x } = JSON.parse(process.env.BATON_PARAMS);',
        'setTimeout(() => appendFileSync(process.env.BATON_METRICS_FILE,',
        '  JSON.stringify({ step: 0, val_loss: x }) + "\\n"), 1500);',
      ].join('\n');
      const ml = {
        experiment: 'redelivery',
        sweep: {
          experiment: 'redelivery-sweeps',
          space: { x: { type: 'choice', values: [2, 1] } },
          objective: { metric: 'val_loss', direction: 'minimize' },
          budget: { maxTrials: 2 },
          parallelism: 1,
          sampler: { kind: 'grid' },
          pruner: { kind: 'median', minTrials: 1, checkSeconds: 1 },
          trial: { argv: ['node', '-e', trial], timeoutSeconds: 60 },
        },
        training: {
          argv: ['node', mlScript('train.mjs')],
          timeoutSeconds: 60,
          params: { lr: 0.05, epochs: 5, l2: 0.001 },
          seed: 42,
        },
        conversion: { argv: ['node', mlScript('convert.mjs')], timeoutSeconds: 60 },
        benchmark: {
          argv: ['node', mlScript('benchmark.mjs')],
          timeoutSeconds: 60,
          params: { rounds: 1, batches: 10 },
          metrics: ['latency_ms_p50'],
        },
      };
      const probe = async (): Promise<{ status: string; error?: string }> => {
        const started = await call('POST', 'flows/test-transfers', { config: 'beamline.yaml' });
        const { runId } = await expect<{ runId: string }>(started, 202);
        for (;;) {
          const view = (await api<{ status: string; error?: string }>(`${url}/api/runs/${runId}`))
            .body;
          if (!['pending', 'running'].includes(view.status)) return view;
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const runs = await Promise.all([
        runToEnd<{ status: string; error?: string }>(url, {
          pipeline: 'hello',
          params: { count: 3 },
        }),
        runToEnd<{ status: string; error?: string }>(
          url,
          { pipeline: 'command', params: { argv: ['node', '-e', 'console.log("once")'] } },
          60_000,
        ),
        runToEnd<{ status: string; error?: string }>(url, { pipeline: 'ml', params: ml }, 150_000),
        modelRun('bank_ok', false),
        modelRun('bank_fails', true),
        runToEnd<{ status: string; error?: string }>(
          url,
          {
            pipeline: 'beamline',
            params: { config: 'beamline.yaml', path: 'landing/bl832/2026/scan_0001.h5' },
          },
          90_000,
        ),
        probe(),
      ]);
      const step = (what: string): void => {
        if (process.env.BATON_CHAOS_DEBUG)
          process.stderr.write(`${new Date().toISOString()} ${what}\n`);
      };
      step('runs ended');
      const [hello, command, mlRun, modelOk, modelFails, beamline, probed] = runs;
      for (const [name, view] of Object.entries({
        hello,
        command,
        mlRun,
        modelOk,
        beamline,
        probed,
      })) {
        assert.equal(view?.status, 'completed', `${name}: ${view?.error ?? ''}`);
      }
      assert.equal(modelFails?.status, 'failed');
      assert.match(modelFails?.error ?? '', /quetzal/);

      step('task');
      const launchesBefore = ledger.launches.length;
      const taskView = await task();
      assert.equal(taskView.state, 'finished', JSON.stringify(taskView));
      // Ticks are judged by what they hand out: each job of the task launched once.
      const taskLaunches = ledger.launches
        .slice(launchesBefore)
        .filter((id) => id.startsWith('t-'));
      assert.equal(taskLaunches.length, taskView.jobs, taskLaunches.join(' '));

      // The cancel activities run only when a job, transfer or HPC job outlives its time, and
      // recordTransferResult when a hop failed to start or timed out; they are delivered here
      // with what the runs gave their siblings: a job still running, a finished transfer and
      // HPC job, a hop's last status.
      step('cancels');
      const cancelJob = registeredFunctions().find((f) => f.name === 'cancelJob');
      const started = await api<{ runId: string }>(`${url}/api/runs`, 'POST', {
        pipeline: 'command',
        params: { argv: ['node', '-e', 'setTimeout(() => {}, 60000)'] },
      });
      longRun = started.body.runId;
      let jobId: string | undefined;
      for (let i = 0; i < 200 && jobId === undefined; i++) {
        const docs = await host?.services.state.query<{ jobId: string; state: string }>('jobs', {
          pk: longRun,
        });
        jobId = docs?.find((d) => d.body.state === 'running')?.body.jobId;
        if (jobId === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(jobId, 'the long job is running');
      await cancelJob?.handler({ runId: longRun, jobId }, {});
      const canceled = await host?.services.state.read<{ state: string }>('jobs', longRun, jobId);
      assert.equal(canceled?.body.state, 'canceled');
      await api(`${url}/api/runs/${longRun}/cancel`, 'POST', { reason: 'test over' });
      for (const [cancel, sibling] of [
        ['cancelTransfer', 'transferStatus'],
        ['cancelHpcJob', 'hpcJobStatus'],
      ] as const) {
        const fn = registeredFunctions().find((f) => f.name === cancel);
        const [input] = inputs.get(sibling) ?? [];
        assert.ok(fn && input !== undefined, `${sibling} was called`);
        await fn.handler(input, {});
      }
      // Only a hop that could not start, or ran out of time, is recorded on its own.
      const record = registeredFunctions().find((f) => f.name === 'recordTransferResult');
      const [hop] = inputs.get('transferStatus') ?? [];
      assert.ok(record && hop !== undefined && results.has('transferStatus'));
      await record.handler({ ...(hop as object), result: results.get('transferStatus') }, {});
      // A launch message for a job nobody recorded fails on every delivery: dead-lettered,
      // its dead letter goes to the dead-letter function (delivered twice and late too).
      await host?.services.bus.send('launch-job', [
        { messageId: 'launch:ghost', body: { runId: 'ghost-run', jobId: 'ghost-job' } },
      ]);
      for (let i = 0; i < 300 && !invocations.some((v) => v.fn === 'launchJobDeadLetters'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      step('late copies');
      await deliverLateCopies();
      step('judging');

      const activities = registeredFunctions().filter((f) => f.triggerType === 'activityTrigger');
      const queues = registeredFunctions().filter((f) => f.triggerType === 'serviceBusTrigger');
      const covered = new Set(invocations.map((i) => i.fn));
      const missed = [...activities, ...queues]
        .filter((f) => !covered.has(f.name))
        .map((f) => f.name);
      assert.deepEqual(missed, [], 'every activity and queue function delivered twice');

      const twice: string[] = [];
      for (const inv of invocations) {
        const [a, b] = inv.together.map((d) => substantive(d.effects, bookkeeping));
        const repeated = [...repeatedEffects(a ?? [], b ?? [])];
        if (inv.again && !planners.has(inv.fn)) {
          repeated.push(...repeatingEffects(substantive(inv.again.effects, bookkeeping)));
        }
        for (const e of repeated) {
          const where = e.accumulates.length > 0 ? ` (${e.accumulates.join(', ')})` : '';
          twice.push(
            `${inv.type} ${inv.together[0].invocation}: ${e.op} ${e.kind} ${e.key}${where}`,
          );
        }
      }
      const failures = invocations.flatMap((i) => i.repeatFailures.map((f) => `${i.type}: ${f}`));
      const messageTypes = new Set(
        invocations.filter((i) => i.kind === 'message').map((i) => i.type),
      );
      const effects = invocations.flatMap((i) => [...i.together, ...(i.again ? [i.again] : [])]);
      const applied = effects.flatMap((d) => substantive(d.effects, bookkeeping));
      recordTallies('redelivery', [
        {
          measure: 'activities delivered twice',
          count: activities.filter((f) => covered.has(f.name)).length,
        },
        {
          measure: 'activities registered, not delivered twice',
          count: missed.length,
          required: '= 0',
        },
        {
          measure: 'activity invocations delivered 3 times',
          count: invocations.filter((i) => i.kind === 'activity').length,
        },
        {
          measure: 'queue functions delivered twice',
          count: queues.filter((f) => covered.has(f.name)).length,
        },
        { measure: 'message types delivered twice', count: messageTypes.size },
        {
          measure: 'messages delivered 3 times (1 late)',
          count: invocations.filter((i) => i.kind === 'message').length,
        },
        { measure: 'side effects observed', count: applied.length },
        { measure: 'side effects applied twice', count: twice.length, required: '= 0' },
        { measure: 'repeated deliveries that failed', count: failures.length },
      ]);
      if (failures.length > 0)
        console.log(`repeated deliveries that failed:\n${failures.slice(0, 20).join('\n')}`);
      assert.deepEqual(twice, [], 'side effects applied twice');
      assert.ok(applied.length > 0, 'the ledger saw side effects');
    },
  );
});
