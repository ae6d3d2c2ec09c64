import type { JobMetricSample } from '../ports/compute.js';
import { BatonError } from './errors.js';

/**
 * Performance monitoring of a job (the seed's `performance_monitoring`): checking the monitor
 * request, summarizing a job's samples and exporting them as CSV. Pure; the sampling itself is
 * the compute backend's (`ComputeBackend.metrics`).
 */

/** Bounds of `JobSpec.monitor.intervalSeconds`: finer burns CPU on /proc scans, coarser says little. */
export const monitorIntervalBounds = { min: 0.1, max: 3600 } as const;

/** A valid `JobSpec.monitor`, or undefined when none was asked for; `validation` names the field. */
export function checkMonitor(monitor: unknown): { intervalSeconds: number } | undefined {
  if (monitor === undefined) return undefined;
  if (typeof monitor !== 'object' || monitor === null || Array.isArray(monitor)) {
    throw invalid('monitor', 'must be an object like { intervalSeconds: 1 }');
  }
  const { intervalSeconds } = monitor as { intervalSeconds?: unknown };
  const { min, max } = monitorIntervalBounds;
  if (
    typeof intervalSeconds !== 'number' ||
    !Number.isFinite(intervalSeconds) ||
    intervalSeconds < min ||
    intervalSeconds > max
  ) {
    throw invalid('monitor.intervalSeconds', `must be a number of seconds from ${min} to ${max}`);
  }
  return { intervalSeconds };
}

/** What a job used, over all its samples. */
export interface MetricsSummary {
  /** The last sample's elapsed time: how long the job ran (summed over concatenated jobs). */
  durationSeconds: number;
  /** Time-weighted: each sample's CPU counts for the interval it covers. */
  cpuPercentAvg: number;
  cpuPercentMax: number;
  rssMaxBytes: number;
  systemMemoryMaxUsedBytes: number;
  samples: number;
}

/**
 * Summarizes samples (oldest first, as `metrics` returns them). The CPU average weighs each
 * sample by the time since the previous one (the first: since the job started), so the
 * shorter final sample at exit does not count as a full interval; with no elapsed time at all
 * it is the plain mean. Several jobs' samples may be concatenated (the jobs of one step, run
 * one after the other): where elapsed time goes backwards a new job begins, and the duration
 * is the sum of the jobs'. No samples: all zeros.
 */
export function summarizeMetrics(samples: readonly JobMetricSample[]): MetricsSummary {
  let finishedJobsSeconds = 0;
  let cpuPercentMax = 0;
  let rssMaxBytes = 0;
  let systemMemoryMaxUsedBytes = 0;
  let weightedCpu = 0;
  let weights = 0;
  let cpuSum = 0;
  let previousElapsed = 0;
  for (const sample of samples) {
    if (sample.elapsedSeconds < previousElapsed) {
      finishedJobsSeconds += previousElapsed;
      previousElapsed = 0;
    }
    const span = sample.elapsedSeconds - previousElapsed;
    previousElapsed = sample.elapsedSeconds;
    weightedCpu += sample.cpuPercent * span;
    weights += span;
    cpuSum += sample.cpuPercent;
    cpuPercentMax = Math.max(cpuPercentMax, sample.cpuPercent);
    rssMaxBytes = Math.max(rssMaxBytes, sample.rssBytes);
    systemMemoryMaxUsedBytes = Math.max(systemMemoryMaxUsedBytes, sample.systemMemoryUsedBytes);
  }
  const durationSeconds = finishedJobsSeconds + previousElapsed;
  const cpuPercentAvg =
    samples.length === 0 ? 0 : weights > 0 ? weightedCpu / weights : cpuSum / samples.length;
  return {
    durationSeconds,
    cpuPercentAvg,
    cpuPercentMax,
    rssMaxBytes,
    systemMemoryMaxUsedBytes,
    samples: samples.length,
  };
}

/** Which columns {@link metricsCsv} writes, and the step and iteration to label rows with. */
export interface MetricsCsvOptions {
  /** The `cpu_percent` column (the seed's `track_cpu`). */
  trackCpu: boolean;
  /** The `rss_mb`, `system_memory_used_gb`, `system_memory_total_gb` columns (`track_memory`). */
  trackMemory: boolean;
  /** Adds a leading `step` column with this value on every row. */
  step?: string;
  /** Adds an `iteration` column (after `step`) with this value on every row. */
  iteration?: number;
}

const mib = 1024 * 1024;
const gib = 1024 * mib;

/**
 * The samples as CSV for analysis: a header, then one row per sample, `\n`-terminated.
 * Columns: [step], [iteration], at, elapsed_s, [cpu_percent], [rss_mb, system_memory_used_gb,
 * system_memory_total_gb], processes. Fixed decimals (elapsed 3, CPU 1, MB 1, GB 3); MB and GB
 * are binary (MiB, GiB), as `free` and psutil-based tools report them. Text cells are quoted
 * when they need it, and a leading `=`, `+`, `-` or `@` is defused so a spreadsheet does not run
 * a step name as a formula.
 */
export function metricsCsv(
  samples: readonly JobMetricSample[],
  options: MetricsCsvOptions,
): string {
  const { trackCpu, trackMemory, step, iteration } = options;
  if (iteration !== undefined && (!Number.isInteger(iteration) || iteration < 0)) {
    throw invalid('iteration', 'must be a non-negative integer');
  }
  const header = [
    ...(step === undefined ? [] : ['step']),
    ...(iteration === undefined ? [] : ['iteration']),
    'at',
    'elapsed_s',
    ...(trackCpu ? ['cpu_percent'] : []),
    ...(trackMemory ? ['rss_mb', 'system_memory_used_gb', 'system_memory_total_gb'] : []),
    'processes',
  ];
  const rows = samples.map((s) => [
    ...(step === undefined ? [] : [csvText(step)]),
    ...(iteration === undefined ? [] : [String(iteration)]),
    csvText(s.at),
    fixed(s.elapsedSeconds, 3),
    ...(trackCpu ? [fixed(s.cpuPercent, 1)] : []),
    ...(trackMemory
      ? [
          fixed(s.rssBytes / mib, 1),
          fixed(s.systemMemoryUsedBytes / gib, 3),
          fixed(s.systemMemoryTotalBytes / gib, 3),
        ]
      : []),
    fixed(s.processes, 0),
  ]);
  return [header, ...rows].map((cells) => `${cells.join(',')}\n`).join('');
}

/** Fixed decimals; a non-finite number (never sampled, corrupt) becomes an empty cell. */
function fixed(value: number, decimals: number): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : '';
}

function csvText(value: string): string {
  const defused = /^[=+\-@]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
}

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}
