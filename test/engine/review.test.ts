import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { FileBus } from '../../shared/adapters/local/fileBus.js';
import { BatonError } from '../../shared/domain/errors.js';
import { systemClock } from '../../shared/ports/clock.js';
import { DurableEngine } from '../../shared/runtime/durable/engine.js';
import type {
  EpisodeRecord,
  InboxMessage,
  InstanceStore,
} from '../../shared/runtime/durable/instanceStore.js';
import { registryLookup } from '../../shared/runtime/functionLookup.js';
import { installFunctionsCore } from '../../shared/runtime/functionRegistry.js';
import type { Lake, LakeEntry } from '../../shared/ports/lake.js';
import { startBusTriggers } from '../../shared/runtime/busTriggers.js';
import { startLandingTriggers } from '../../shared/runtime/landingTriggers.js';
import { createLogger } from '../../shared/runtime/logger.js';

/**
 * Regression tests from a review of the engine and the host: each states the correct behaviour
 * a found bug violated (crash consistency, lost or repeated events, stale results of earlier
 * executions, trigger semantics). Fixtures are registered with `df.app` like the app's own functions
 * (names prefixed `rv_`), and the engine is driven directly on a temporary folder.
 */
installFunctionsCore();

// ---- gates: activities that finish when the test says so ------------------------------------

const gates = new Map<string, { open: () => void; promise: Promise<void>; entered: boolean }>();
function gate(key: string): { open: () => void; promise: Promise<void>; entered: boolean } {
  let g = gates.get(key);
  if (!g) {
    let open = (): void => undefined;
    const promise = new Promise<void>((resolve) => (open = resolve));
    g = { open, promise, entered: false };
    gates.set(key, g);
  }
  return g;
}

async function until(what: string, probe: () => boolean | Promise<boolean>, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Returns its input once the gate of that input is opened. */
df.app.activity('rv_gatedEcho', {
  handler: async (key: unknown) => {
    const g = gate(String(key));
    g.entered = true;
    await g.promise;
    return key;
  },
});

df.app.orchestration('rv_oneActivity', function* (ctx) {
  return (yield ctx.df.callActivity('rv_gatedEcho', ctx.df.getInput<string>())) as string;
});

df.app.orchestration('rv_twoEvents', function* (ctx) {
  const a: unknown = yield ctx.df.waitForExternalEvent('a');
  const b: unknown = yield ctx.df.waitForExternalEvent('b');
  return { a, b };
});

df.app.orchestration('rv_sameEventTwice', function* (ctx) {
  const first: unknown = yield ctx.df.waitForExternalEvent('a');
  const second: unknown = yield ctx.df.waitForExternalEvent('a');
  return [first, second];
});

df.app.orchestration('rv_childEcho', function* (ctx) {
  const n = ctx.df.getInput<unknown>();
  yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 1));
  return `child saw ${JSON.stringify(n)}`;
});

/** Calls a child (default instance id) in each generation; continues as new once. */
df.app.orchestration('rv_childPerGeneration', function* (ctx) {
  const gen = ctx.df.getInput<number>();
  const fromChild = (yield ctx.df.callSubOrchestrator('rv_childEcho', gen)) as string;
  if (gen >= 1) return fromChild;
  ctx.df.continueAsNew(gen + 1);
  return undefined;
});

/** A parent that calls one child with the default instance id and returns its output. */
df.app.orchestration('rv_parentOfEcho', function* (ctx) {
  return (yield ctx.df.callSubOrchestrator('rv_childEcho', ctx.df.getInput<unknown>())) as string;
});

/** A child that waits on a gated activity. */
df.app.orchestration('rv_gatedChild', function* (ctx) {
  return (yield ctx.df.callActivity('rv_gatedEcho', ctx.df.getInput<string>())) as string;
});

/**
 * Generation 0 races a slow child (explicit id) against a short timer; the timer wins and it
 * continues as new. Generation 1 calls one gated activity and returns its result.
 */
df.app.orchestration('rv_abandonChildThenCan', function* (ctx) {
  const gen = ctx.df.getInput<number>();
  if (gen === 0) {
    const child = ctx.df.callSubOrchestrator(
      'rv_gatedChild',
      'child-result',
      `${ctx.df.instanceId}-slowchild`,
    );
    const timer = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 5));
    yield ctx.df.Task.any([child, timer]);
    ctx.df.continueAsNew(1);
    return undefined;
  }
  return (yield ctx.df.callActivity('rv_gatedEcho', 'gen1-activity')) as string;
});

const genAttempts = new Map<string, number>();
/** Generation 0: a non-retriable failure. Generation 1: fails once (retriable), then succeeds. */
df.app.activity('rv_genFlaky', {
  handler: (input: unknown) => {
    const { gen, key } = input as { gen: number; key: string };
    const k = `${key}/${gen}`;
    const attempt = (genAttempts.get(k) ?? 0) + 1;
    genAttempts.set(k, attempt);
    if (gen === 0) throw new BatonError('validation', 'bad input in generation 0');
    if (attempt === 1) throw new Error('transient failure');
    return `ok on attempt ${attempt}`;
  },
});

df.app.orchestration('rv_retryPerGeneration', function* (ctx) {
  const gen = ctx.df.getInput<number>();
  let outcome: string;
  try {
    outcome = (yield ctx.df.callActivityWithRetry('rv_genFlaky', new df.RetryOptions(5, 3), {
      gen,
      key: ctx.df.instanceId,
    })) as string;
  } catch (error) {
    outcome = `gave up: ${(error as Error).message}`;
  }
  if (gen >= 1) return outcome;
  ctx.df.continueAsNew(gen + 1);
  return undefined;
});

const echoCalls = new Map<string, number>();
df.app.activity('rv_countedEcho', {
  handler: (input: unknown) => {
    const { key, n } = input as { key: string; n: number };
    echoCalls.set(key, (echoCalls.get(key) ?? 0) + 1);
    return n;
  },
});

df.app.orchestration('rv_twoSteps', function* (ctx) {
  const key = ctx.df.instanceId;
  const a = (yield ctx.df.callActivity('rv_countedEcho', { key, n: 1 })) as number;
  const b = (yield ctx.df.callActivity('rv_countedEcho', { key, n: 2 })) as number;
  return a + b;
});

df.app.orchestration('rv_bigIntOutput', function* (ctx) {
  yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 1));
  return { big: 10n };
});

// ---- helpers ----------------------------------------------------------------------------------

const roots: string[] = [];
const engines: DurableEngine[] = [];
after(async () => {
  for (const g of gates.values()) g.open();
  for (const e of engines) await e.stop(200).catch(() => undefined);
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function newRoot(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-review-'));
  roots.push(root);
  return root;
}

async function newEngine(root: string): Promise<DurableEngine> {
  const engine = new DurableEngine({ root, functions: registryLookup, clock: systemClock });
  engines.push(engine);
  await engine.start();
  return engine;
}

function storeOf(engine: DurableEngine): InstanceStore {
  return (engine as unknown as { store: InstanceStore }).store;
}

async function readInbox(root: string, id: string): Promise<InboxMessage[]> {
  const text = await readFile(path.join(root, id, 'inbox.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as InboxMessage);
}

/** The next episode write fails with EIO (nothing written); later ones go through. */
function failFirstEpisodeWrite(engine: DurableEngine): void {
  const store = storeOf(engine);
  const original = store.appendEpisode.bind(store);
  let failures = 0;
  store.appendEpisode = async (id: string, record: EpisodeRecord) => {
    if (failures++ === 0) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    return original(id, record);
  };
}

async function waitRunning(engine: DurableEngine, id: string): Promise<void> {
  await until(`${id} running`, async () => {
    const s = await engine.getStatus(id);
    return s?.runtimeStatus === 'Running';
  });
}

// ---- engine findings ----------------------------------------------------------------------

describe('review: durable engine', () => {
  it('keeps an event raised while an episode commits (inbox seq must not be reused)', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_twoEvents', 'ev-1', null);
    await waitRunning(engine, 'ev-1');

    // While the episode that consumes event 'a' (seq 1) is committing, 'b' is raised and the
    // host is stopped cleanly (e.g. Ctrl-C). raiseEvent('b') resolved, so 'b' is durable.
    const store = storeOf(engine);
    const original = store.appendEpisode.bind(store);
    let stopping: Promise<void> | undefined;
    store.appendEpisode = async (id: string, record: EpisodeRecord) => {
      if (!stopping) {
        await engine.raiseEvent('ev-1', 'b', 2);
        stopping = engine.stop();
      }
      return original(id, record);
    };
    await engine.raiseEvent('ev-1', 'a', 1);
    await until('stop requested', () => stopping !== undefined);
    await stopping;

    const restarted = await newEngine(root);
    const s = await restarted.waitFor('ev-1', 3000);
    const inbox = await readInbox(root, 'ev-1');
    const seqs = `inbox seqs on disk: ${JSON.stringify(inbox.map((m) => [m.name, m.seq]))}`;
    assert.equal(s?.runtimeStatus, 'Completed', `event 'b' was lost; ${seqs}`);
    assert.deepEqual(s?.output, { a: 1, b: 2 });
    assert.deepEqual(
      inbox.map((m) => m.seq),
      [1, 2],
      seqs,
    );
  });

  it('does not hand a purged incarnation’s activity result to a new instance with the same id', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_oneActivity', 'same-id', 'old-run');
    await until('old activity running', () => gate('old-run').entered);
    await engine.terminate('same-id', 'restart it');
    assert.equal((await engine.waitFor('same-id', 3000))?.runtimeStatus, 'Terminated');

    // Same id again (startInstance purges the finished one, as a user restarting a run would).
    await engine.startInstance('rv_oneActivity', 'same-id', 'new-run');
    await until('new activity running', () => gate('new-run').entered);
    gate('old-run').open(); // the first run's activity finishes late
    await sleep(200);
    gate('new-run').open();

    const s = await engine.waitFor('same-id', 3000);
    assert.equal(s?.runtimeStatus, 'Completed');
    assert.equal(s?.output, 'new-run', 'the output must come from this run’s own activity');
  });

  it('runs a new child in each continue-as-new generation (default child instance id)', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_childPerGeneration', 'can-child', 0);
    const s = await engine.waitFor('can-child', 5000);
    assert.equal(s?.runtimeStatus, 'Completed', JSON.stringify(s));
    assert.equal(s?.output, 'child saw 1');
  });

  it('runs a new child when a finished parent is started again with the same id', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_parentOfEcho', 'rerun', 'first');
    assert.equal((await engine.waitFor('rerun', 5000))?.output, 'child saw "first"');
    await engine.startInstance('rv_parentOfEcho', 'rerun', 'second');
    const s = await engine.waitFor('rerun', 5000);
    assert.equal(s?.output, 'child saw "second"');
  });

  it('does not deliver an abandoned child of an earlier generation into the current one', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_abandonChildThenCan', 'abandon', 0);
    await until('generation 1 activity running', () => gate('gen1-activity').entered);
    // The generation-0 child's activity may start a moment after generation 1's; it cannot end
    // before its gate opens, so once it has entered, the child is known to be still running.
    await until('generation-0 child activity running', () => gate('child-result').entered);
    gate('child-result').open(); // the abandoned child finishes now
    await sleep(200);
    gate('gen1-activity').open();
    const s = await engine.waitFor('abandon', 3000);
    assert.equal(s?.runtimeStatus, 'Completed');
    assert.equal(s?.output, 'gen1-activity');
  });

  it('starts every continue-as-new generation with fresh retry bookkeeping', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    // Control: generation 1 on its own retries and succeeds.
    await engine.startInstance('rv_retryPerGeneration', 'gen1-alone', 1);
    assert.equal((await engine.waitFor('gen1-alone', 5000))?.output, 'ok on attempt 2');

    await engine.startInstance('rv_retryPerGeneration', 'can-retry', 0);
    const s = await engine.waitFor('can-retry', 5000);
    assert.equal(s?.runtimeStatus, 'Completed', JSON.stringify(s));
    assert.equal(s?.output, 'ok on attempt 2');
  });

  it('applies an acknowledged terminate even if the first attempt to write it fails', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_twoEvents', 'term-io', null);
    await waitRunning(engine, 'term-io');
    failFirstEpisodeWrite(engine);
    await engine.terminate('term-io', 'stop it');
    const s = await engine.waitFor('term-io', 3000);
    assert.equal(s?.runtimeStatus, 'Terminated');
  });

  it('does not deliver an event twice after a failed episode write and a restart', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_sameEventTwice', 'dup-ev', null);
    await waitRunning(engine, 'dup-ev');
    failFirstEpisodeWrite(engine);
    await engine.raiseEvent('dup-ev', 'a', 'only once');
    // The retried episode commits the event; the orchestrator now waits for a second 'a'.
    await until('event committed', async () => {
      const h = (await engine.getStatus('dup-ev', true))?.history ?? [];
      return h.some((r) => r.kind === 'event');
    });
    await engine.stop();

    const restarted = await newEngine(root);
    const s = await restarted.waitFor('dup-ev', 1500);
    assert.equal(s?.runtimeStatus, 'Running', `nobody raised a second 'a': ${JSON.stringify(s)}`);
  });

  it('keeps committed episodes after an append that failed half-way (ENOSPC) and was retried', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    const store = storeOf(engine);
    const original = store.appendEpisode.bind(store);
    let calls = 0;
    store.appendEpisode = async (id: string, record: EpisodeRecord) => {
      if (++calls === 2) {
        // What writeFile leaves behind when the disk fills up in the middle of the line.
        const line = JSON.stringify(record) + '\n';
        await appendFile(path.join(root, id, 'history.jsonl'), line.slice(0, line.length >> 1));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
        });
      }
      return original(id, record);
    };
    await engine.startInstance('rv_twoSteps', 'torn-mid', null);
    const done = await engine.waitFor('torn-mid', 5000);
    assert.equal(done?.runtimeStatus, 'Completed');
    assert.equal(echoCalls.get('torn-mid'), 2);
    await engine.stop();

    const restarted = await newEngine(root);
    const s = await restarted.getStatus('torn-mid');
    assert.equal(s?.runtimeStatus, 'Completed', 'a completed run must stay completed');
    await restarted.waitFor('torn-mid', 2000);
    assert.equal(echoCalls.get('torn-mid'), 2, 'no activity runs again');
  });

  it('fails an orchestration whose output cannot be stored instead of retrying it forever', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_bigIntOutput', 'bigint', null);
    const s = await engine.waitFor('bigint', 3000);
    assert.equal(
      s?.runtimeStatus,
      'Failed',
      JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    );
  });
});

// ---- waiters ----------------------------------------------------------------------------------

describe('review: engine waitFor', () => {
  it('does not keep a waiter per poll on a long-running instance', async () => {
    const root = await newRoot();
    const engine = await newEngine(root);
    await engine.startInstance('rv_twoEvents', 'waiting', null);
    await waitRunning(engine, 'waiting');
    for (let i = 0; i < 5; i++) await engine.waitFor('waiting', 30);
    const waiters = (engine as unknown as { waiters: Map<string, unknown[]> }).waiters;
    assert.equal(waiters.get('waiting')?.length ?? 0, 0, 'no one is waiting any more');
  });
});

// ---- host triggers ----------------------------------------------------------------------------

const silent = createLogger({ level: 'silent' });

/** A lake holding a few files in memory, as the landing poller sees it. */
function memoryLake(files: Map<string, { content: string; lastModified: string }>): Lake {
  const entry = (p: string): LakeEntry => {
    const f = files.get(p) as { content: string; lastModified: string };
    return { path: p, isDirectory: false, size: f.content.length, lastModified: f.lastModified };
  };
  return {
    list: async (prefix: string) =>
      [...files.keys()].filter((p) => p.startsWith(`${prefix}/`)).map(entry),
    read: async (p: string) => Buffer.from(files.get(p)?.content ?? ''),
  } as unknown as Lake;
}

const landed: Array<{ fn: string; path: string; content: string }> = [];
app.storageBlob('rv_landingStrict', {
  path: 'rvland/{name}',
  connection: 'LakeConnection',
  handler: (blob: unknown, context) => {
    const content = String(blob);
    if (content.startsWith('bad')) throw new Error('cannot parse this file');
    landed.push({
      fn: context.functionName,
      path: String(context.triggerMetadata?.blobTrigger),
      content,
    });
  },
});
app.storageBlob('rv_landingIncoming', {
  path: 'rvsub/incoming/{name}',
  connection: 'LakeConnection',
  handler: (blob: unknown, context) => {
    landed.push({
      fn: context.functionName,
      path: String(context.triggerMetadata?.blobTrigger),
      content: String(blob),
    });
  },
});

describe('review: landing trigger', () => {
  it('delivers a new version of a file whose earlier version was poisoned', async () => {
    const files = new Map([
      ['rvland/scan.csv', { content: 'bad header', lastModified: '2024-01-01T00:00:00.000Z' }],
    ]);
    const stateFile = path.join(await newRoot(), 'landing-seen.json');
    const stop = startLandingTriggers({
      lake: memoryLake(files),
      logger: silent,
      env: {},
      inputs: () => ({}),
      stateFile,
      intervalMs: 5,
    });
    try {
      await until('five failed deliveries', async () => {
        const seen = JSON.parse(await readFile(stateFile, 'utf8').catch(() => '{}')) as {
          failures?: Record<string, number>;
        };
        // Failures are counted per version of the file (key `<function>:<path>@<version>`).
        const counts = Object.entries(seen.failures ?? {})
          .filter(([key]) => key.startsWith('rv_landingStrict:rvland/scan.csv@'))
          .map(([, n]) => n);
        return (counts[0] ?? 0) >= 5;
      });
      // The user fixes the file and uploads it again under the same name.
      files.set('rvland/scan.csv', {
        content: 'good header, fixed',
        lastModified: '2024-01-01T00:05:00.000Z',
      });
      await until(
        'the fixed file delivered',
        () => landed.some((l) => l.content === 'good header, fixed'),
        2000,
      );
    } finally {
      await stop();
    }
  });

  it('delivers only files that match the trigger path', async () => {
    const files = new Map([
      ['rvsub/incoming/a.h5', { content: 'a', lastModified: '2024-01-01T00:00:00.000Z' }],
      ['rvsub/archive/b.h5', { content: 'b', lastModified: '2024-01-01T00:00:00.000Z' }],
    ]);
    const stop = startLandingTriggers({
      lake: memoryLake(files),
      logger: silent,
      env: {},
      inputs: () => ({}),
      stateFile: path.join(await newRoot(), 'landing-seen.json'),
      intervalMs: 5,
    });
    try {
      await until('incoming file delivered', () =>
        landed.some((l) => l.path === 'rvsub/incoming/a.h5'),
      );
      await sleep(100);
    } finally {
      await stop();
    }
    const delivered = landed.filter((l) => l.fn === 'rv_landingIncoming').map((l) => l.path);
    assert.deepEqual(delivered, ['rvsub/incoming/a.h5']);
  });
});

const handled = new Map<string, number>();
app.serviceBusQueue('rv_queueSlow', {
  queueName: 'rv-slow',
  connection: 'ServiceBusConnection',
  handler: async (_body: unknown, context) => {
    const id = String(context.triggerMetadata?.messageId);
    handled.set(id, (handled.get(id) ?? 0) + 1);
    await sleep(150); // well inside the 400 ms lock
  },
});

describe('review: queue trigger', () => {
  it('handles each message once when every handler finishes well inside the lock duration', async () => {
    const bus = new FileBus({ root: await newRoot(), lockDurationMs: 400 });
    await bus.send(
      'rv-slow',
      ['m1', 'm2', 'm3', 'm4'].map((messageId) => ({ messageId, body: { messageId } })),
    );
    const stop = startBusTriggers({ bus, logger: silent, env: {}, inputs: () => ({}) });
    try {
      await sleep(2000);
    } finally {
      await stop();
    }
    assert.deepEqual(Object.fromEntries(handled), { m1: 1, m2: 1, m3: 1, m4: 1 });
  });
});
