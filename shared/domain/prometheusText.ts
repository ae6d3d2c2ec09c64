import { BatonError } from './errors.js';

/**
 * Renders metric families in the Prometheus text exposition format, version 0.0.4. Pure: the
 * caller builds the families (here from stored documents), this only writes them out.
 *
 * Written here rather than taken from prom-client: a registry-based library keeps process-global
 * state; we render from stored documents per request.
 *
 * Output is deterministic (families by name, samples by their rendered label set, labels by name,
 * `le` last) so that two scrapes of the same documents are byte-identical and tests can compare
 * text. A malformed family is our bug, not the scraper's, so it throws `internal` instead of
 * writing text Prometheus would reject as a whole.
 */

export type MetricLabels = Record<string, string>;

/** A counter's or gauge's value for one label set. */
export interface ScalarSample {
  labels: MetricLabels;
  value: number;
}

/** One histogram bucket: how many observations were `<= le` (cumulative, as Prometheus counts). */
export interface HistogramBucket {
  le: number;
  count: number;
}

/** A histogram for one label set; the `+Inf` bucket is written from `count`, so leave it out. */
export interface HistogramSample {
  labels: MetricLabels;
  buckets: HistogramBucket[];
  sum: number;
  count: number;
}

interface FamilyHeader {
  name: string;
  help: string;
}

export type MetricFamily =
  | (FamilyHeader & { type: 'counter' | 'gauge'; samples: ScalarSample[] })
  | (FamilyHeader & { type: 'histogram'; samples: HistogramSample[] });

export const exposition004ContentType = 'text/plain; version=0.0.4; charset=utf-8';

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The whole exposition: every family's `# HELP`, `# TYPE` and sample lines, newline-terminated. */
export function renderPrometheusText(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  for (const family of families) {
    if (seen.has(family.name)) throw malformed(`metric family ${family.name} given twice`);
    seen.add(family.name);
  }
  const sorted = [...families].sort((a, b) => compareText(a.name, b.name));
  return sorted.flatMap(familyLines).join('');
}

function familyLines(family: MetricFamily): string[] {
  if (!metricNamePattern.test(family.name)) throw malformed(`bad metric name ${family.name}`);
  const header = [
    `# HELP ${family.name} ${escapeHelp(family.help)}\n`,
    `# TYPE ${family.name} ${family.type}\n`,
  ];
  const sampleLines =
    family.type === 'histogram'
      ? sortedByLabels(family.name, family.samples, ['le']).flatMap((s) =>
          histogramLines(family.name, s),
        )
      : sortedByLabels(family.name, family.samples, []).map((s) =>
          sampleLine(family.name, s.labels, s.value),
        );
  return [...header, ...sampleLines];
}

/** Buckets ascending, then `+Inf` (equal to count), `_sum` and `_count`, as Prometheus expects. */
function histogramLines(name: string, sample: HistogramSample): string[] {
  const buckets = [...sample.buckets].sort((a, b) => a.le - b.le);
  let previous = 0;
  for (const bucket of buckets) {
    if (!Number.isFinite(bucket.le)) {
      throw malformed(`${name}: bucket bounds must be finite; +Inf is written from count`);
    }
    if (bucket.count < previous || bucket.count > sample.count) {
      throw malformed(`${name}: bucket counts must be cumulative and at most count`);
    }
    previous = bucket.count;
  }
  if (new Set(buckets.map((b) => b.le)).size !== buckets.length) {
    throw malformed(`${name}: bucket bound given twice`);
  }
  return [
    ...buckets.map((b) =>
      sampleLine(`${name}_bucket`, { ...sample.labels, le: formatValue(b.le) }, b.count),
    ),
    sampleLine(`${name}_bucket`, { ...sample.labels, le: '+Inf' }, sample.count),
    sampleLine(`${name}_sum`, sample.labels, sample.sum),
    sampleLine(`${name}_count`, sample.labels, sample.count),
  ];
}

/**
 * Samples ordered by their label set; a label set given twice would be two series with one
 * identity, which Prometheus rejects, so it throws. `reserved` are the labels the type adds.
 */
function sortedByLabels<S extends { labels: MetricLabels }>(
  name: string,
  samples: readonly S[],
  reserved: readonly string[],
): S[] {
  const keyed = samples.map((sample) => {
    for (const label of Object.keys(sample.labels)) {
      if (!labelNamePattern.test(label) || label.startsWith('__') || reserved.includes(label)) {
        throw malformed(`${name}: bad label name ${label}`);
      }
    }
    return { key: renderLabels(sample.labels), sample };
  });
  keyed.sort((a, b) => compareText(a.key, b.key));
  const twice = keyed.find((k, i) => i > 0 && k.key === keyed[i - 1]?.key);
  if (twice !== undefined) throw malformed(`${name}: series ${twice.key} given twice`);
  return keyed.map((k) => k.sample);
}

function sampleLine(name: string, labels: MetricLabels, value: number): string {
  return `${name}${renderLabels(labels)} ${formatValue(value)}\n`;
}

/** `{a="1",b="2"}` with names sorted and `le` last (where readers look for it); '' when none. */
function renderLabels(labels: MetricLabels): string {
  const pairs = Object.entries(labels).sort(([a], [b]) =>
    a === 'le' ? 1 : b === 'le' ? -1 : compareText(a, b),
  );
  if (pairs.length === 0) return '';
  return `{${pairs.map(([n, v]) => `${n}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/**
 * Counts observations into cumulative buckets (`v <= le`, as Prometheus does), with their sum
 * and count: what a histogram sample needs when the observations are at hand rather than
 * accumulated by a live client.
 */
export function histogramOf(
  bounds: readonly number[],
  observations: readonly number[],
): Omit<HistogramSample, 'labels'> {
  return {
    buckets: bounds.map((le) => ({ le, count: observations.filter((v) => v <= le).length })),
    sum: observations.reduce((total, v) => total + v, 0),
    count: observations.length,
  };
}

/** Label values escape backslash, double quote and newline (the format's only three escapes). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes only backslash and newline; quotes stay as they are. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Go's ParseFloat spellings: `+Inf`, `-Inf`, `NaN`; JS's own text for every finite number. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Code-unit order, not locale order: the same on every machine. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function malformed(message: string): BatonError {
  return new BatonError('internal', `prometheus exposition: ${message}`);
}
