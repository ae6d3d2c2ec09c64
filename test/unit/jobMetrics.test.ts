import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import { checkMonitor, metricsCsv, summarizeMetrics } from '../../shared/domain/jobMetrics.js';
import type { JobMetricSample } from '../../shared/ports/compute.js';

const gib = 1024 ** 3;
const mib = 1024 ** 2;

const sample = (
  elapsedSeconds: number,
  cpuPercent: number,
  extra: Partial<JobMetricSample> = {},
): JobMetricSample => ({
  at: new Date(Date.UTC(2024, 0, 1) + elapsedSeconds * 1000).toISOString(),
  elapsedSeconds,
  cpuPercent,
  rssBytes: 100 * mib,
  systemMemoryUsedBytes: 4 * gib,
  systemMemoryTotalBytes: 16 * gib,
  processes: 1,
  ...extra,
});

describe('summarizeMetrics', () => {
  it('is all zeros for no samples', () => {
    assert.deepEqual(summarizeMetrics([]), {
      durationSeconds: 0,
      cpuPercentAvg: 0,
      cpuPercentMax: 0,
      rssMaxBytes: 0,
      systemMemoryMaxUsedBytes: 0,
      samples: 0,
    });
  });

  it('takes the last elapsed time as the duration and the maxima of CPU and memory', () => {
    const summary = summarizeMetrics([
      sample(1, 50, { rssBytes: 10, systemMemoryUsedBytes: 7 }),
      sample(2, 150, { rssBytes: 30, systemMemoryUsedBytes: 5 }),
      sample(3, 100, { rssBytes: 20, systemMemoryUsedBytes: 9 }),
    ]);
    assert.equal(summary.durationSeconds, 3);
    assert.equal(summary.cpuPercentMax, 150);
    assert.equal(summary.rssMaxBytes, 30);
    assert.equal(summary.systemMemoryMaxUsedBytes, 9);
    assert.equal(summary.samples, 3);
    assert.equal(summary.cpuPercentAvg, 100);
  });

  it('weighs CPU by the interval each sample covers (a short final sample counts little)', () => {
    // 2 s at 100 %, 2 s at 100 %, then a final 0.1 s at 0 %: 400 / 4.1.
    const summary = summarizeMetrics([sample(2, 100), sample(4, 100), sample(4.1, 0)]);
    assert.ok(Math.abs(summary.cpuPercentAvg - 400 / 4.1) < 1e-9, String(summary.cpuPercentAvg));
  });

  it('treats elapsed time going backwards as the next job of concatenated samples', () => {
    // Job 1: 2 s at 100 %; job 2: 1 s at 40 %, then 1 s at 0 %. Duration 4 s, CPU 240 / 4.
    const summary = summarizeMetrics([sample(2, 100), sample(1, 40), sample(2, 0)]);
    assert.equal(summary.durationSeconds, 4);
    assert.equal(summary.cpuPercentAvg, 60);
    assert.equal(summary.cpuPercentMax, 100);
    assert.equal(summary.samples, 3);
  });

  it('falls back to the plain mean when no time elapsed', () => {
    assert.equal(summarizeMetrics([sample(0, 10), sample(0, 30)]).cpuPercentAvg, 20);
  });
});

describe('metricsCsv', () => {
  const samples = [
    sample(0.5, 12.345, {
      rssBytes: 1.25 * mib,
      systemMemoryUsedBytes: 1.5 * gib,
      systemMemoryTotalBytes: 8 * gib,
      processes: 2,
    }),
    sample(1, 200, { rssBytes: 0, processes: 0 }),
  ];

  it('writes every column with fixed decimals when CPU and memory are tracked', () => {
    assert.equal(
      metricsCsv(samples, { trackCpu: true, trackMemory: true }),
      'at,elapsed_s,cpu_percent,rss_mb,system_memory_used_gb,system_memory_total_gb,processes\n' +
        '2024-01-01T00:00:00.500Z,0.500,12.3,1.3,1.500,8.000,2\n' +
        '2024-01-01T00:00:01.000Z,1.000,200.0,0.0,4.000,16.000,0\n',
    );
  });

  it('leaves out the CPU or memory columns that are not tracked', () => {
    assert.equal(
      metricsCsv(samples, { trackCpu: false, trackMemory: true }).split('\n')[0],
      'at,elapsed_s,rss_mb,system_memory_used_gb,system_memory_total_gb,processes',
    );
    assert.equal(
      metricsCsv(samples, { trackCpu: true, trackMemory: false }),
      'at,elapsed_s,cpu_percent,processes\n' +
        '2024-01-01T00:00:00.500Z,0.500,12.3,2\n' +
        '2024-01-01T00:00:01.000Z,1.000,200.0,0\n',
    );
    assert.equal(
      metricsCsv([], { trackCpu: false, trackMemory: false }),
      'at,elapsed_s,processes\n',
    );
  });

  it('labels rows with step and iteration when given', () => {
    const csv = metricsCsv(samples.slice(0, 1), {
      trackCpu: true,
      trackMemory: false,
      step: 'model',
      iteration: 3,
    });
    assert.equal(
      csv,
      'step,iteration,at,elapsed_s,cpu_percent,processes\n' +
        'model,3,2024-01-01T00:00:00.500Z,0.500,12.3,2\n',
    );
    const onlyStep = metricsCsv(samples.slice(0, 1), {
      trackCpu: false,
      trackMemory: false,
      step: 'm',
    });
    assert.equal(onlyStep, 'step,at,elapsed_s,processes\nm,2024-01-01T00:00:00.500Z,0.500,2\n');
  });

  it('quotes text cells that need it and defuses spreadsheet formulas', () => {
    const row = (step: string): string =>
      metricsCsv(samples.slice(0, 1), { trackCpu: false, trackMemory: false, step }).split(
        '\n',
      )[1] ?? '';
    assert.equal(row('a,"b"'), '"a,""b""",2024-01-01T00:00:00.500Z,0.500,2');
    assert.equal(row('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")",2024-01-01T00:00:00.500Z,0.500,2`);
    assert.equal(row('@sum'), `'@sum,2024-01-01T00:00:00.500Z,0.500,2`);
  });

  it('writes an empty cell for a non-finite number', () => {
    const csv = metricsCsv([sample(1, Number.NaN)], { trackCpu: true, trackMemory: false });
    assert.equal(csv.split('\n')[1], '2024-01-01T00:00:01.000Z,1.000,,1');
  });

  it('refuses an iteration that is not a non-negative integer', () => {
    for (const iteration of [-1, 1.5, Number.NaN]) {
      assert.throws(
        () => metricsCsv(samples, { trackCpu: true, trackMemory: true, iteration }),
        (e: unknown) => isBatonError(e, 'validation') && e.field === 'iteration',
      );
    }
  });
});

describe('checkMonitor', () => {
  it('accepts no monitor and an interval within 0.1 to 3600 s', () => {
    assert.equal(checkMonitor(undefined), undefined);
    assert.deepEqual(checkMonitor({ intervalSeconds: 0.1 }), { intervalSeconds: 0.1 });
    assert.deepEqual(checkMonitor({ intervalSeconds: 3600 }), { intervalSeconds: 3600 });
    assert.deepEqual(checkMonitor({ intervalSeconds: 1, extra: true }), { intervalSeconds: 1 });
  });

  it('names the field it refuses', () => {
    const refused = (monitor: unknown, field: string): void =>
      assert.throws(
        () => checkMonitor(monitor),
        (e: unknown) => isBatonError(e, 'validation') && e.field === field,
        JSON.stringify(monitor),
      );
    refused(null, 'monitor');
    refused([], 'monitor');
    refused('1', 'monitor');
    for (const intervalSeconds of [0, 0.09, 3601, -1, Infinity, Number.NaN, '1', undefined]) {
      refused({ intervalSeconds }, 'monitor.intervalSeconds');
    }
  });
});
