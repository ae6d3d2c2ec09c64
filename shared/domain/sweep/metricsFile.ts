import { trackerKeySchema } from '../runFilter.js';
import type { CurvePoint } from './pruner.js';

/**
 * The metrics file a trial writes (`BATON_METRICS_FILE`): JSON lines, one object per report,
 *
 *     {"step": 0, "val_loss": 0.69, "train_loss": 0.70}
 *     {"step": 1, "val_loss": 0.52, "train_loss": 0.55}
 *
 * `step` is a non-negative integer (when absent: the report's position among the valid lines).
 * Every other key whose value is a finite number is a metric at that step; other values
 * (strings, nulls, nested objects) are ignored, so a trial may add notes. Keys follow the
 * tracker's rule (letters, digits, `_ - . / space`). A line that is not a JSON object, an
 * invalid step or key is skipped and reported in `problems`, never fatal: a trial killed in the
 * middle of a write leaves a torn last line, and what it reported before still counts.
 */
export interface MetricsReport {
  points: Array<{ key: string; value: number; step: number }>;
  /** At most `maxProblems` descriptions of skipped lines or keys (`line 3: not JSON`). */
  problems: string[];
}

const maxProblems = 10;
/** The tracker takes at most this many points per trial from one file (a runaway logger). */
export const maxMetricPoints = 10_000;

export function parseMetricsFile(text: string): MetricsReport {
  const points: MetricsReport['points'] = [];
  const problems: string[] = [];
  const problem = (message: string): void => {
    if (problems.length < maxProblems) problems.push(message);
  };
  let position = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      problem(`line ${i + 1}: not JSON`);
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problem(`line ${i + 1}: not a JSON object`);
      continue;
    }
    const record = parsed as Record<string, unknown>;
    const step = record.step ?? position;
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
      problem(`line ${i + 1}: step must be a non-negative integer`);
      continue;
    }
    position++;
    for (const [key, value] of Object.entries(record)) {
      if (key === 'step' || typeof value !== 'number' || !Number.isFinite(value)) continue;
      if (!trackerKeySchema.safeParse(key).success) {
        problem(`line ${i + 1}: "${key.slice(0, 60)}" is not a valid metric name`);
        continue;
      }
      if (points.length >= maxMetricPoints) {
        problem(`more than ${maxMetricPoints} points: the rest are ignored`);
        return { points, problems };
      }
      points.push({ key, value, step });
    }
  }
  return { points, problems };
}

/** One metric's curve from a report, in file order. */
export function curveOf(report: MetricsReport, metric: string): CurvePoint[] {
  return report.points
    .filter((point) => point.key === metric)
    .map((point) => ({ step: point.step, value: point.value }));
}

/**
 * A metric's final value: the one at the highest step (a later line wins a tie), or undefined
 * when the trial never reported it.
 */
export function finalValue(curve: readonly CurvePoint[]): number | undefined {
  let last: CurvePoint | undefined;
  for (const point of curve) if (last === undefined || point.step >= last.step) last = point;
  return last?.value;
}

/**
 * Where a trial on a container backend (no shared folder with the host) reports: its output,
 * one line per report, `baton-metric ` followed by the same JSON object as a metrics-file line
 * (`BATON_METRICS_STDOUT=1` tells the trial). Returns those objects as metrics-file text.
 */
export const metricLinePrefix = 'baton-metric ';

export function metricsFromOutput(lines: readonly string[]): string {
  const reports: string[] = [];
  for (const line of lines) {
    const at = line.indexOf(metricLinePrefix);
    if (at >= 0) reports.push(line.slice(at + metricLinePrefix.length).trim());
  }
  return reports.length === 0 ? '' : `${reports.join('\n')}\n`;
}
