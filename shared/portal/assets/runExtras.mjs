// @ts-check
// Workload sections of the run page: a sweep's trials (from the tracker, live while the sweep
// runs) with its objective plotted per trial, and a beamline run's transfer hops and
// reconstruction steps (from its output, or its progress while it runs).
import { api, queryString } from './api.mjs';
import { objectiveChart } from './charts.mjs';
import {
  errorLine,
  formatBytes,
  formatDuration,
  formatTime,
  h,
  statusBadge,
  table,
  setChildren,
} from './dom.mjs';

/** @typedef {import('./runPage.mjs').RunView} RunView */
/** @typedef {{ element: HTMLElement, destroy: () => void } | null} Section */

// The sweep's tracked runs carry these tags (shared/app/sweep.ts).
const sweepTag = 'sweep_run';
const trialTag = 'trial';

/** @param {RunView} run @returns {Promise<Section>} */
export async function sweepSection(run) {
  if (run.pipeline !== 'sweep') return null;
  /** @type {any} */
  const params = run.params ?? {};
  const experiment = run.output?.tracking?.experiment ?? params.experiment ?? 'sweeps';
  const metric = run.output?.objective?.metric ?? params.objective?.metric ?? '';
  const reply = await api(
    'GET',
    `tracking/runs${queryString({ experiment, tag: `${sweepTag}=${run.runId}`, max: '5000' })}`,
  );
  const section = h('section', { 'data-testid': 'sweep' }, h('h2', {}, 'Trials'));
  if (!reply.ok) {
    section.append(errorLine(reply.error));
    return { element: section, destroy: () => {} };
  }
  /** @type {Array<{ runId: string, status: string, params: Record<string, string>, metrics: Record<string, number>, tags: Record<string, string> }>} */
  const tracked = reply.data;
  const trials = tracked
    .filter((t) => t.tags[trialTag] !== undefined)
    .map((t) => ({ ...t, trial: Number(t.tags[trialTag]) }))
    .sort((a, b) => a.trial - b.trial);
  const best = run.output?.best?.trial;
  const points = trials
    .filter((t) => typeof t.metrics[metric] === 'number')
    .map((t) => ({ trial: t.trial, value: /** @type {number} */ (t.metrics[metric]) }));
  const chart = objectiveChart(points, metric || 'objective');
  const paramNames = [...new Set(trials.flatMap((t) => Object.keys(t.params)))].sort();
  setChildren(
    section,
    h('h2', {}, 'Trials'),
    best !== undefined
      ? h(
          'p',
          { 'data-testid': 'best-trial' },
          `Best trial: ${best} (${metric} = ${run.output?.best?.value})`,
        )
      : null,
    chart.element,
    table(
      ['trial', 'status', ...paramNames, metric || 'objective', 'tracked run'],
      trials.map((t) => [
        t.trial === best ? `${t.trial} ★` : t.trial,
        statusBadge(t.status.toLowerCase()),
        ...paramNames.map((p) => t.params[p] ?? ''),
        t.metrics[metric] ?? '',
        t.runId,
      ]),
      'trials-table',
    ),
  );
  return { element: section, destroy: chart.destroy };
}

/**
 * @typedef {{ from: string, to: string, state: string, files: number, bytes: number, durationMs: number, rate: number, reason?: string }} Hop
 * @typedef {{ name: string, state: string, startedAt: string, endedAt: string, durationMs: number, reason?: string }} FlowStep
 */

/** @param {RunView} run @returns {Section} */
export function beamlineSection(run) {
  if (!run.pipeline.startsWith('beamline')) return null;
  const source = run.output ?? run.progress ?? {};
  /** @type {Hop[]} */
  const hops = source.newFile?.hops ?? source.hops ?? [];
  /** @type {Array<{ site?: string, steps?: FlowStep[] }>} */
  const reconstructions = source.reconstructions ?? (source.steps ? [source] : []);
  const section = h(
    'section',
    { 'data-testid': 'beamline' },
    h('h2', {}, 'Transfers'),
    hops.length === 0
      ? h('p', { class: 'muted' }, 'No transfers yet.')
      : table(
          ['from', 'to', 'state', 'files', 'bytes', 'duration', 'rate'],
          hops.map((hop) => [
            hop.from,
            hop.to,
            statusBadge(hop.state),
            hop.files,
            formatBytes(hop.bytes),
            formatDuration(hop.durationMs),
            `${formatBytes(hop.rate)}/s`,
          ]),
          'transfers-table',
        ),
    ...reconstructions.map((r, i) =>
      h(
        'div',
        {},
        h('h2', {}, `Reconstruction ${r.site ?? i + 1}`),
        table(
          ['step', 'state', 'started', 'duration', 'reason'],
          (r.steps ?? []).map((s) => [
            s.name,
            statusBadge(s.state),
            formatTime(s.startedAt),
            formatDuration(s.durationMs),
            s.reason ?? '',
          ]),
          'reconstruction-table',
        ),
      ),
    ),
  );
  return { element: section, destroy: () => {} };
}
