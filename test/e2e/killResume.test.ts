import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  api,
  killHard,
  startHostProcess,
  stopGracefully,
  type HostProcess,
} from '../helpers/hostProcess.js';

/**
 * The host is SIGKILLed several times in the middle of a run and started again on the same
 * state folder; the run must complete with every output, and the history must record each
 * activity's result exactly once (activities themselves may run more than once).
 */
interface RunView {
  runId: string;
  status: string;
  output: { files: number; missing: number[] } | null;
  steps?: Array<{ status: string; name: string }>;
}

interface Episode {
  events: Array<{ EventType: number; EventId: number; TaskScheduledId?: number }>;
}

const count = 60;
// Seeded, so a failure can be reproduced: kill delays in ms after each (re)start.
function killDelays(seed: number, n: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 250 + (x % 600);
  });
}

describe('kill and resume (baton up as a child process)', () => {
  let stateDir = '';
  let host: HostProcess | undefined;
  after(async () => {
    if (host) await killHard(host);
    if (stateDir)
      await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it(
    'completes a run interrupted by SIGKILL several times, recording each result once',
    { timeout: 120_000 },
    async () => {
      stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-kill-'));
      const env = { BATON_ACTIVITY_CONCURRENCY: '3' };
      host = await startHostProcess(stateDir, env);
      const started = await api<RunView>(`${host.url}/api/runs`, 'POST', {
        pipeline: 'hello',
        params: { count, delayMs: 250 },
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const runId = started.body.runId;

      let killsMidRun = 0;
      for (const delay of killDelays(7, 5)) {
        await new Promise((r) => setTimeout(r, delay));
        const before = await api<RunView>(`${host.url}/api/runs/${runId}`);
        await killHard(host);
        if (before.body.status === 'running' || before.body.status === 'pending') killsMidRun++;
        host = await startHostProcess(stateDir, env);
      }
      assert.ok(killsMidRun >= 3, `expected most kills to land mid-run, got ${killsMidRun}`);

      let view: RunView | undefined;
      for (let i = 0; i < 600; i++) {
        view = (await api<RunView>(`${host.url}/api/runs/${runId}`)).body;
        if (view.status !== 'running' && view.status !== 'pending') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(view?.status, 'completed', JSON.stringify(view));
      assert.equal(view?.output?.files, count);
      assert.deepEqual(view?.output?.missing, []);
      assert.equal(
        view?.steps?.filter((s) => s.name === 'sayHello' && s.status === 'completed').length,
        count,
      );

      // Each greeting file exists exactly once in the lake.
      const files = await readdir(path.join(stateDir, 'lake', 'runs', runId, 'greetings'));
      assert.equal(files.filter((f) => f.endsWith('.txt')).length, count);

      // The history has no torn line, and one completion per scheduled task.
      const lines = (await readFile(path.join(stateDir, 'durable', runId, 'history.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean);
      const episodes = lines.map((l) => JSON.parse(l) as Episode);
      const completions = new Map<number, number>();
      const scheduled = new Set<number>();
      for (const e of episodes.flatMap((ep) => ep.events)) {
        if (e.EventType === 4) scheduled.add(e.EventId);
        if (e.EventType === 5 || e.EventType === 6)
          completions.set(
            e.TaskScheduledId ?? -1,
            (completions.get(e.TaskScheduledId ?? -1) ?? 0) + 1,
          );
      }
      assert.equal(scheduled.size, count + 1);
      for (const id of scheduled)
        assert.equal(
          completions.get(id),
          1,
          `task ${id} completed ${completions.get(id) ?? 0} times`,
        );

      assert.equal(await stopGracefully(host), 0);
      host = undefined;
    },
  );
});
