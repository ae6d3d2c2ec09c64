import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import { installFunctionsCore } from '../../shared/runtime/functionRegistry.js';
import { registryLookup } from '../../shared/runtime/functionLookup.js';
import { DurableEngine } from '../../shared/runtime/durable/engine.js';
import { systemClock } from '../../shared/ports/clock.js';
import { BatonError } from '../../shared/domain/errors.js';

installFunctionsCore();

const calls = new Map<string, number>();
const count = (key: string): number => {
  const n = (calls.get(key) ?? 0) + 1;
  calls.set(key, n);
  return n;
};

df.app.activity('t_double', { handler: (n: unknown) => (n as number) * 2 });
df.app.activity('t_flaky', {
  handler: (key: unknown) => {
    if (count(`flaky:${String(key)}`) < 3) throw new Error(`flaky ${String(key)} not yet`);
    return 'ok';
  },
});
df.app.activity('t_alwaysFails', { handler: () => Promise.reject(new Error('always')) });
df.app.orchestration('t_sequence', function* (ctx) {
  let x = ctx.df.getInput<number>();
  for (let i = 0; i < 5; i++) x = (yield ctx.df.callActivity('t_double', x)) as number;
  return x;
});
df.app.orchestration('t_fanOut', function* (ctx) {
  const n = ctx.df.getInput<number>();
  const tasks = Array.from({ length: n }, (_, i) => ctx.df.callActivity('t_double', i));
  const results = (yield ctx.df.Task.all(tasks)) as number[];
  return results.reduce((a, b) => a + b, 0);
});
df.app.orchestration('t_retry', function* (ctx) {
  const retry = new df.RetryOptions(10, 3);
  const ok = (yield ctx.df.callActivityWithRetry('t_flaky', retry, ctx.df.instanceId)) as string;
  try {
    yield ctx.df.callActivityWithRetry('t_alwaysFails', new df.RetryOptions(5, 2), null);
  } catch (error) {
    return `${ok}; then caught: ${(error as Error).message}`;
  }
  return 'unexpected';
});
df.app.orchestration('t_child', function* (ctx) {
  const n = ctx.df.getInput<number>();
  if (n < 0) throw new Error('negative input');
  return (yield ctx.df.callActivity('t_double', n)) as number;
});
df.app.orchestration('t_parent', function* (ctx) {
  const a = (yield ctx.df.callSubOrchestrator('t_child', 21)) as number;
  let failure = '';
  try {
    yield ctx.df.callSubOrchestrator('t_child', -1);
  } catch (error) {
    failure = (error as Error).message;
  }
  return { a, failure };
});
df.app.orchestration('t_timerAndEvent', function* (ctx) {
  const fireAt = new Date(ctx.df.currentUtcDateTime.getTime() + 50);
  yield ctx.df.createTimer(fireAt);
  ctx.df.setCustomStatus('waiting for approval');
  const timeout = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 60_000));
  const approval = ctx.df.waitForExternalEvent('approval');
  const winner = yield ctx.df.Task.any([approval, timeout]);
  if (winner === approval) {
    timeout.cancel();
    return { approved: approval.result };
  }
  return { approved: false };
});
df.app.orchestration('t_counter', function* (ctx) {
  const n = ctx.df.getInput<number>();
  if (n >= 3) return n;
  yield ctx.df.callActivity('t_double', n);
  ctx.df.continueAsNew(n + 1);
  return undefined;
});

describe('local durable engine', () => {
  let root: string;
  let engine: DurableEngine;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'baton-engine-'));
    engine = new DurableEngine({ root, functions: registryLookup, clock: systemClock });
    await engine.start();
  });
  after(async () => {
    await engine.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('runs a sequence of activities', async () => {
    await engine.startInstance('t_sequence', 'seq-1', 3);
    const s = await engine.waitFor('seq-1', 10_000);
    assert.equal(s?.runtimeStatus, 'Completed');
    assert.equal(s?.output, 96);
  });

  it('fans out and in', async () => {
    await engine.startInstance('t_fanOut', 'fan-1', 200);
    const s = await engine.waitFor('fan-1', 20_000);
    assert.equal(s?.runtimeStatus, 'Completed');
    assert.equal(s?.output, 2 * ((199 * 200) / 2));
    const withHistory = await engine.getStatus('fan-1', true);
    const activities = withHistory?.history?.filter((h) => h.kind === 'activity') ?? [];
    assert.equal(activities.length, 200);
    assert.ok(activities.every((a) => a.status === 'completed'));
  });

  it('retries activities with backoff and surfaces the final failure', async () => {
    await engine.startInstance('t_retry', 'retry-1', null);
    const s = await engine.waitFor('retry-1', 10_000);
    assert.equal(s?.runtimeStatus, 'Completed', JSON.stringify(s));
    assert.match(String(s?.output), /^ok; then caught: .*always/);
    assert.equal(calls.get('flaky:retry-1'), 3);
  });

  it('runs sub-orchestrations and reports their failure to the parent', async () => {
    await engine.startInstance('t_parent', 'parent-1', null);
    const s = await engine.waitFor('parent-1', 10_000);
    assert.equal(s?.runtimeStatus, 'Completed', JSON.stringify(s));
    const out = s?.output as { a: number; failure: string };
    assert.equal(out.a, 42);
    assert.match(out.failure, /negative input/);
  });

  it('fires durable timers and delivers external events', async () => {
    await engine.startInstance('t_timerAndEvent', 'te-1', null);
    for (let i = 0; i < 100; i++) {
      const s = await engine.getStatus('te-1');
      if (s?.customStatus === 'waiting for approval') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await engine.raiseEvent('te-1', 'approval', 'yes');
    const s = await engine.waitFor('te-1', 10_000);
    assert.deepEqual(s?.output, { approved: 'yes' });
  });

  it('continues as new with a fresh history', async () => {
    await engine.startInstance('t_counter', 'counter-1', 0);
    const s = await engine.waitFor('counter-1', 10_000);
    assert.equal(s?.runtimeStatus, 'Completed');
    assert.equal(s?.output, 3);
    const lines = (await readFile(path.join(root, 'counter-1', 'history.jsonl'), 'utf8'))
      .trim()
      .split('\n');
    assert.ok(lines.length <= 3, `history of the last generation only, got ${lines.length} lines`);
  });

  it('terminates a waiting instance and refuses duplicates and unknown names', async () => {
    await engine.startInstance('t_timerAndEvent', 'te-2', null);
    await assert.rejects(engine.startInstance('t_timerAndEvent', 'te-2', null), /te-2/);
    await assert.rejects(engine.startInstance('nope', 'x-1', null), /not registered/);
    await engine.terminate('te-2', 'user asked');
    const s = await engine.waitFor('te-2', 5000);
    assert.equal(s?.runtimeStatus, 'Terminated');
    assert.equal(await engine.purge('te-2'), true);
    assert.equal(await engine.getStatus('te-2'), undefined);
  });
});

describe('retry policy honoured by the engine', () => {
  let root: string;
  let engine: DurableEngine;
  const attempts = new Map<string, number>();
  before(async () => {
    df.app.activity('t_rejectsInput', {
      handler: (key: unknown) => {
        attempts.set(String(key), (attempts.get(String(key)) ?? 0) + 1);
        throw new BatonError('validation', `input ${String(key)} is wrong`);
      },
    });
    df.app.activity('t_slowFail', {
      handler: async (key: unknown) => {
        attempts.set(String(key), (attempts.get(String(key)) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 40));
        throw new Error('still down');
      },
    });
    df.app.orchestration('t_retryPolicy', function* (ctx) {
      const { activity, key, timeoutMs } = ctx.df.getInput<{
        activity: string;
        key: string;
        timeoutMs?: number;
      }>();
      // 6 attempts 250 ms apart take about 1.5 s; a 1 s retry timeout cuts them short while
      // leaving room for a second attempt on a loaded machine.
      const retry = new df.RetryOptions(250, 6);
      if (timeoutMs) retry.retryTimeoutInMilliseconds = timeoutMs;
      try {
        yield ctx.df.callActivityWithRetry(activity, retry, key);
      } catch (error) {
        return (error as Error).message;
      }
      return 'unexpected success';
    });
    root = await mkdtemp(path.join(os.tmpdir(), 'baton-retry-'));
    engine = new DurableEngine({ root, functions: registryLookup, clock: systemClock });
    await engine.start();
  });
  after(async () => {
    await engine.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('runs a non-retriable failure (a user mistake) once, not once per attempt', async () => {
    await engine.startInstance('t_retryPolicy', 'policy-1', {
      activity: 't_rejectsInput',
      key: 'k1',
    });
    const s = await engine.waitFor('policy-1', 10_000);
    assert.equal(s?.runtimeStatus, 'Completed');
    assert.match(String(s?.output), /input k1 is wrong/);
    assert.equal(attempts.get('k1'), 1);
  });

  it('stops retrying once the retry timeout has passed', async () => {
    await engine.startInstance('t_retryPolicy', 'policy-2', {
      activity: 't_slowFail',
      key: 'k2',
      timeoutMs: 1000,
    });
    const s = await engine.waitFor('policy-2', 10_000);
    assert.match(String(s?.output), /still down/);
    const n = attempts.get('k2') ?? 0;
    assert.ok(n >= 2 && n < 6, `expected the timeout to cut the 6 attempts short, ran ${n}`);
  });

  it('keeps no stack traces in the history', async () => {
    const text = await readFile(path.join(root, 'policy-2', 'history.jsonl'), 'utf8');
    assert.doesNotMatch(text, /StackTrace|\n\s+at /);
  });
});
