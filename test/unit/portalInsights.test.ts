import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { collectAppMetrics } from '../../shared/app/appMetrics.js';
import { toChild } from '../../shared/app/runInsights.js';
import { runsCollection } from '../../shared/app/runs.js';
import {
  recordSlotSample,
  slotHistory,
  slotHistoryCollection,
} from '../../shared/app/slotHistory.js';
import { metricsCsv } from '../../shared/domain/jobMetrics.js';
import { parsePerformanceCsv, splitCsvLine } from '../../shared/domain/performanceCsv.js';
import type { JobMetricSample } from '../../shared/ports/compute.js';
import type {
  InstanceQuery,
  InstanceStatus,
  OrchestrationClient,
  RuntimeStatus,
} from '../../shared/ports/orchestrationClient.js';

/**
 * What the portal's run and slots pages read: the monitoring CSVs parsed back (with zod, bad
 * rows skipped), the bounded slot history, and the metrics scrape that asks only for statuses
 * that can still change.
 */
const mib = 1024 * 1024;
const gib = 1024 * mib;

describe('parsePerformanceCsv', () => {
  const sample = (i: number): JobMetricSample => ({
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    elapsedSeconds: i,
    cpuPercent: 10 * i,
    rssBytes: (100 + i) * mib,
    systemMemoryUsedBytes: 2 * gib,
    systemMemoryTotalBytes: 8 * gib,
    processes: 2,
  });

  it('reads back what metricsCsv writes, in bytes and percent', () => {
    const csv = metricsCsv([sample(1), sample(2)], {
      trackCpu: true,
      trackMemory: true,
      step: '=evil,step',
      iteration: 3,
    });
    const { samples, skippedRows } = parsePerformanceCsv(csv);
    assert.equal(skippedRows, 0);
    assert.equal(samples.length, 2);
    assert.deepEqual(samples[1], {
      at: sample(2).at,
      elapsedSeconds: 2,
      cpuPercent: 20,
      rssBytes: 102 * mib,
      systemMemoryUsedBytes: 2 * gib,
      systemMemoryTotalBytes: 8 * gib,
      processes: 2,
    });
  });

  it('gives null for columns monitoring did not track', () => {
    const csv = metricsCsv([sample(1)], { trackCpu: false, trackMemory: true });
    const [only] = parsePerformanceCsv(csv).samples;
    assert.equal(only?.cpuPercent, null);
    assert.equal(only?.rssBytes, 101 * mib);
  });

  it('skips rows that do not parse, and refuses a file that is not a monitoring CSV', () => {
    const text = [
      'at,elapsed_s,cpu_percent',
      '2026-01-01T00:00:01.000Z,1.000,5.0',
      'not a time,2.000,5.0',
      '2026-01-01T00:00:03.000Z,-3,5.0',
      '2026-01-01T00:00:04.000Z,4.000,lots',
      '2026-01-01T00:00:05.000Z,5.000',
      '2026-01-01T00:00:06.000Z,6.000,7.5',
    ].join('\n');
    const parsed = parsePerformanceCsv(text);
    assert.deepEqual(
      parsed.samples.map((s) => s.cpuPercent),
      [5, 7.5],
    );
    assert.equal(parsed.skippedRows, 4);
    assert.throws(() => parsePerformanceCsv('name,value\nx,1\n'), /no "at" column/);
    assert.throws(() => parsePerformanceCsv(''), /no "at" column/);
  });

  it('thins a long series evenly, keeping the first and last samples', () => {
    const rows = Array.from({ length: 1001 }, (_, i) => `2026-01-01T00:00:00.000Z,${i}.000`);
    const { samples } = parsePerformanceCsv(['at,elapsed_s', ...rows].join('\n'), 11);
    assert.deepEqual(
      samples.map((s) => s.elapsedSeconds),
      [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
    );
  });

  it('splits quoted cells and undoes the formula defusing', () => {
    assert.deepEqual(splitCsvLine(`"a,b","say ""hi""",'=x,plain`), [
      'a,b',
      'say "hi"',
      '=x',
      'plain',
    ]);
  });
});

describe('slot history', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-slot-history-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps one document per hour, prunes hours older than a day, answers the last hours', async () => {
    const state = new FileStateStore({ root: path.join(dir, 'state') });
    let now = Date.parse('2026-01-01T00:00:00.000Z');
    const clock = { now: () => new Date(now) };
    // Two samples an hour for 30 hours.
    for (let i = 0; i < 60; i++) {
      await recordSlotSample({ state, clock }, [{ backend: 'local', slots: 4, inUse: i % 5 }]);
      now += 30 * 60_000;
    }
    const hours = await state.query<{ hour: string }>(slotHistoryCollection);
    // The hour being filled and the 24 before it, at most.
    assert.ok(hours.length <= 25, `${hours.length} hour documents kept`);
    const all = await slotHistory({ state, clock }, {});
    assert.equal(all.hours, 24);
    const first = all.samples[0]?.at ?? '';
    assert.ok(Date.parse(first) >= now - 24 * 3600_000, first);
    assert.ok(all.samples.every((s, i, a) => i === 0 || (a[i - 1]?.at ?? '') <= s.at));
    const lastHour = await slotHistory({ state, clock }, { hours: '1' });
    assert.equal(lastHour.samples.length, 2);
    assert.deepEqual(lastHour.samples[1]?.backends, [{ backend: 'local', slots: 4, inUse: 4 }]);
    await assert.rejects(slotHistory({ state, clock }, { hours: '48' }), /hours/);
  });

  it('loses no sample when two hosts sample at once', async () => {
    const state = new FileStateStore({ root: path.join(dir, 'concurrent') });
    const clock = { now: () => new Date('2026-02-01T10:15:00.000Z') };
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        recordSlotSample({ state, clock }, [{ backend: `b${i}`, slots: 1, inUse: 0 }]),
      ),
    );
    const { samples } = await slotHistory({ state, clock }, {});
    assert.equal(samples.length, 6);
  });
});

describe('collectAppMetrics asks only for statuses that can still change', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-metrics-cache-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('caches ended runs, lists only live instances, forgets deleted runs', async () => {
    const state = new FileStateStore({ root: path.join(dir, 'state') });
    const statuses = new Map<string, RuntimeStatus>();
    const calls = { list: [] as InstanceQuery[], getStatus: [] as string[] };
    const instance = (id: string, runtimeStatus: RuntimeStatus): InstanceStatus => ({
      instanceId: id,
      name: 'hello',
      runtimeStatus,
      input: null,
      output: null,
      customStatus: null,
      createdTime: '',
      lastUpdatedTime: '',
    });
    const client = {
      list: async (query: InstanceQuery = {}) => {
        calls.list.push(query);
        return [...statuses]
          .filter(([, s]) => !query.runtimeStatus || query.runtimeStatus.includes(s))
          .map(([id, s]) => instance(id, s));
      },
      getStatus: async (id: string) => {
        calls.getStatus.push(id);
        const s = statuses.get(id);
        return s === undefined ? undefined : instance(id, s);
      },
    } as unknown as OrchestrationClient;
    const addRun = async (runId: string, status: RuntimeStatus): Promise<void> => {
      statuses.set(runId, status);
      await state.create(runsCollection, {
        id: runId,
        pk: runId,
        body: { runId, pipeline: 'hello', params: {}, createdAt: '2026-01-01', createdBy: 'a' },
      });
    };
    await addRun('done', 'Completed');
    await addRun('live', 'Running');
    const deps = { state, client, backends: [{ name: 'local', slots: 2 }], computeName: 'local' };

    const first = await collectAppMetrics(deps);
    assert.deepEqual(first.runs.map((r) => r.status).sort(), ['completed', 'running']);
    assert.deepEqual(calls.getStatus, ['done'], 'the ended run is asked for once');
    assert.ok(calls.list.every((q) => !q.runtimeStatus?.includes('Completed')));

    statuses.set('live', 'Failed');
    calls.getStatus = [];
    const second = await collectAppMetrics(deps);
    assert.deepEqual(second.runs.map((r) => r.status).sort(), ['completed', 'failed']);
    assert.deepEqual(calls.getStatus, ['live'], 'only the run that just ended');

    calls.getStatus = [];
    await collectAppMetrics(deps);
    assert.deepEqual(calls.getStatus, [], 'a steady state asks for no status at all');

    // A deleted run leaves the counts; a new run with the same id is asked for afresh.
    await state.delete(runsCollection, 'done', 'done');
    const third = await collectAppMetrics(deps);
    assert.deepEqual(
      third.runs.map((r) => r.status),
      ['failed'],
    );
  });
});

describe('a run child as the portal sees it', () => {
  const status = (runtimeStatus: RuntimeStatus, output: unknown): InstanceStatus => ({
    instanceId: 'model-1:0',
    name: 'modelIteration',
    runtimeStatus,
    input: { secretish: 'not shown' },
    output,
    customStatus: null,
    createdTime: '2026-11-28T12:00:00.000Z',
    lastUpdatedTime: '2026-11-28T12:01:00.000Z',
  });

  it('shows an output once completed, and a failed or ended child’s error as text', () => {
    assert.deepEqual(toChild(status('Completed', { summaries: [] })).output, { summaries: [] });
    const failed = toChild(status('Failed', { message: 'step quetzal failed' }));
    assert.equal(failed.output, null);
    assert.equal(failed.error, '{"message":"step quetzal failed"}');
    assert.equal(toChild(status('Terminated', 'canceled by alice')).error, 'canceled by alice');
    const running = toChild(status('Running', null));
    assert.equal(running.output, null);
    assert.equal(running.error, undefined);
    assert.equal('input' in running, false);
  });
});
