import { BatonError, isBatonError } from '../domain/errors.js';
import { parseRunQuery } from '../domain/runFilter.js';
import type { RunRecord, RunSummary, Tracker } from '../ports/tracker.js';

/**
 * Run finding (`baton runs find`, `GET /api/tracking/runs`) and one run in full (`baton runs
 * compare`, `GET /api/tracking/runs/{id}`) over the Tracker port: the same query path that finds
 * a sweep's best trial. The query uses the CLI's flag names, so an error names the flag either way.
 */
export interface FindRunsQuery {
  experiment: string;
  tag: string[];
  param: string[];
  metric: string[];
  status?: string;
  parent?: string;
  orderBy?: string;
  max?: string;
}

/** The query of `GET /api/tracking/runs` (repeatable `tag`, `param`, `metric`). */
export function findRunsQueryOf(query: URLSearchParams): FindRunsQuery {
  const one = (name: string): string | undefined => query.get(name) ?? undefined;
  const experiment = one('experiment');
  if (experiment === undefined || experiment.trim() === '') {
    throw new BatonError('validation', '--experiment: required', { field: '--experiment' });
  }
  const status = one('status');
  const parent = one('parent');
  const orderBy = one('orderBy');
  const max = one('max');
  return {
    experiment,
    tag: query.getAll('tag'),
    param: query.getAll('param'),
    metric: query.getAll('metric'),
    ...(status === undefined ? {} : { status }),
    ...(parent === undefined ? {} : { parent }),
    ...(orderBy === undefined ? {} : { orderBy }),
    ...(max === undefined ? {} : { max }),
  };
}

export async function findRuns(tracker: Tracker, query: FindRunsQuery): Promise<RunSummary[]> {
  const parsed = parseRunQuery(query);
  const experiment = await tracker.getExperimentByName(query.experiment);
  if (experiment === undefined) {
    throw new BatonError('not_found', `--experiment: no experiment named ${query.experiment}`, {
      field: '--experiment',
    });
  }
  return tracker.searchRuns({
    experimentIds: [experiment.experimentId],
    filter: parsed.filter,
    ...(parsed.orderBy === undefined ? {} : { orderBy: parsed.orderBy }),
    maxResults: parsed.maxResults ?? 100,
  });
}

export async function getTrackedRun(tracker: Tracker, runId: string): Promise<RunRecord> {
  try {
    return await tracker.getRun(runId);
  } catch (error) {
    // The trackers say what is missing; the caller needs to know which of its inputs it was.
    if (!isBatonError(error, 'not_found') || error.field !== undefined) throw error;
    throw new BatonError('not_found', error.message, { field: 'runId', cause: error });
  }
}
