import type { Command } from 'commander';
import { z } from 'zod';
import { BatonError, isBatonError } from '../domain/errors.js';
import { parseRunQuery } from '../domain/runFilter.js';
import { out, withConnection } from './commandSupport.js';
import { table } from './output.js';
import { pathSegment } from './apiClient.js';

/**
 * `baton runs find` and `baton runs compare`: tracked runs (a sweep and its trials, training
 * runs) found by tags, params and metrics, and two runs side by side. The flags are parsed here
 * first, so a bad one fails before any host starts, naming the flag.
 */
const trackedRunSchema = z.object({
  runId: z.string(),
  name: z.string().optional(),
  status: z.string(),
  parentRunId: z.string().optional(),
  startTime: z.number(),
  endTime: z.number().optional(),
  params: z.record(z.string(), z.string()),
  metrics: z.record(z.string(), z.number()),
  tags: z.record(z.string(), z.string()),
});
type TrackedRun = z.infer<typeof trackedRunSchema>;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerTrackingCommands(runs: Command): void {
  runs
    .command('find')
    .description('find tracked runs of an experiment by tag, param and metric (e.g. "f1>0.8")')
    .requiredOption('--experiment <name>', 'the experiment')
    .option('--tag <k=v>', 'a tag value (repeatable)', collect, [])
    .option('--param <k=v>', 'a param value (repeatable)', collect, [])
    .option('--metric <cond>', 'a metric condition such as "f1>0.8" (repeatable)', collect, [])
    .option('--status <status>', 'RUNNING, FINISHED, FAILED or KILLED')
    .option('--parent <runId>', 'children of this run (the trials of a sweep)')
    .option('--order-by <key>', 'metric.f1, param.lr or attribute.start_time, then ASC or DESC')
    .option('--max <n>', 'at most this many runs', '20')
    .action(
      async (
        options: {
          experiment: string;
          tag: string[];
          param: string[];
          metric: string[];
          status?: string;
          parent?: string;
          orderBy?: string;
          max: string;
        },
        command: Command,
      ) => {
        parseRunQuery(options); // names a bad flag before any host starts
        const query = new URLSearchParams({ experiment: options.experiment, max: options.max });
        for (const tag of options.tag) query.append('tag', tag);
        for (const param of options.param) query.append('param', param);
        for (const metric of options.metric) query.append('metric', metric);
        if (options.status !== undefined) query.set('status', options.status);
        if (options.parent !== undefined) query.set('parent', options.parent);
        if (options.orderBy !== undefined) query.set('orderBy', options.orderBy);
        await withConnection(command, async ({ api }, g) => {
          const found = await api.request(
            z.array(trackedRunSchema),
            'GET',
            `tracking/runs?${query.toString()}`,
          );
          out(g.json ? JSON.stringify(found) : renderFound(found));
        });
      },
    );

  runs
    .command('compare')
    .description('two tracked runs side by side: params and latest metrics')
    .argument('<runA>')
    .argument('<runB>')
    .action(async (a: string, b: string, _options: unknown, command: Command) => {
      // Both paths first: a refused id must not leave the other request unobserved.
      const paths = [
        `tracking/runs/${pathSegment(a, 'runA')}`,
        `tracking/runs/${pathSegment(b, 'runB')}`,
      ];
      await withConnection(command, async ({ api }, g) => {
        // The API names its runId; the user gave runA or runB.
        const [left, right] = await Promise.all(
          paths.map((route, i) =>
            api.request(trackedRunSchema, 'GET', route).catch((error: unknown) => {
              if (!isBatonError(error) || error.field !== 'runId') throw error;
              throw new BatonError(error.code, error.message, {
                field: i === 0 ? 'runA' : 'runB',
                cause: error,
              });
            }),
          ),
        );
        if (left === undefined || right === undefined) return;
        out(g.json ? JSON.stringify([left, right]) : renderComparison(left, right));
      });
    });
}

function renderFound(runs: TrackedRun[]): string {
  if (runs.length === 0) return 'no runs match';
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort().slice(0, 6);
  return table(
    ['RUN', 'NAME', 'STATUS', ...metricKeys.map((k) => k.toUpperCase())],
    runs.map((r) => [
      r.runId,
      r.name ?? '',
      r.status,
      ...metricKeys.map((k) => (r.metrics[k] === undefined ? '' : formatNumber(r.metrics[k]))),
    ]),
  );
}

function renderComparison(a: TrackedRun, b: TrackedRun): string {
  const rows: string[][] = [];
  const section = (kind: string, left: Record<string, string>, right: Record<string, string>) => {
    for (const key of [...new Set([...Object.keys(left), ...Object.keys(right)])].sort()) {
      const l = left[key] ?? '';
      const r = right[key] ?? '';
      rows.push([`${kind}.${key}`, l, r, l === r ? '' : '≠']);
    }
  };
  rows.push(['status', a.status, b.status, a.status === b.status ? '' : '≠']);
  section('param', a.params, b.params);
  const asText = (m: Record<string, number>): Record<string, string> =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, formatNumber(v)]));
  section('metric', asText(a.metrics), asText(b.metrics));
  return table(['', a.name ?? a.runId, b.name ?? b.runId, ''], rows);
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(6);
}
