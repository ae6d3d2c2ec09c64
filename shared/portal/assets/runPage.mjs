// @ts-check
// One run: status, params, error, progress, its steps as a Gantt and a table (attempts,
// start, duration), workload sections (sweep trials, beamline transfers, model grid) and logs.
// The view redraws every two seconds while the run is live.
import { api } from './api.mjs';
import { ganttChart } from './charts.mjs';
import {
  errorLine,
  formatDuration,
  formatTime,
  h,
  jsonBlock,
  statusBadge,
  table,
  setChildren,
} from './dom.mjs';
import { logsPanel } from './logsPanel.mjs';
import { modelSection } from './modelSection.mjs';
import { beamlineSection, sweepSection } from './runExtras.mjs';

const live = new Set(['pending', 'running']);

/**
 * @typedef {{ attempt: number, status: string, startedAt?: string, finishedAt?: string, durationMs?: number, error?: string }} Attempt
 * @typedef {{ name: string, kind: string, status: string, attempts: Attempt[] }} Step
 * @typedef {{ runId: string, pipeline: string, status: string, createdAt: string, updatedAt: string, params: unknown, output: any, error?: string, progress: any, steps?: Step[] }} RunView
 */

/** @param {import('./app.mjs').ViewContext} ctx @param {string} runId */
export async function renderRun(ctx, runId) {
  const body = h('div', { 'data-testid': 'run' });
  ctx.root.append(
    h('p', {}, h('a', { href: '#/runs' }, '← runs')),
    h('h1', {}, `Run ${runId}`),
    body,
  );
  /** @type {Array<() => void>} */
  let charts = [];
  ctx.onLeave(() => charts.forEach((d) => d()));

  /** @returns {Promise<boolean>} whether the run is still live */
  const draw = async () => {
    const reply = await api('GET', `runs/${encodeURIComponent(runId)}`);
    if (!ctx.active()) return false;
    if (!reply.ok) {
      body.replaceChildren(errorLine(reply.error));
      return false;
    }
    /** @type {RunView} */
    const run = reply.data;
    charts.forEach((d) => d());
    charts = [];
    const steps = run.steps ?? [];
    const gantt = ganttChart(steps, run.createdAt, Date.now());
    charts.push(gantt.destroy);
    const extras = [await sweepSection(run), beamlineSection(run), await modelSection(run)];
    for (const extra of extras) if (extra) charts.push(extra.destroy);
    setChildren(
      body,
      h(
        'p',
        {},
        'pipeline ',
        h('strong', {}, run.pipeline),
        ' · status ',
        statusBadge(run.status),
        ` · created ${formatTime(run.createdAt)} · updated ${formatTime(run.updatedAt)}`,
      ),
      live.has(run.status)
        ? h(
            'p',
            { class: 'actions' },
            h('button', { 'data-testid': 'cancel', onclick: () => void cancel() }, 'Cancel'),
          )
        : null,
      run.error
        ? h(
            'section',
            {},
            h('h2', {}, 'Error'),
            h('pre', { class: 'error', 'data-testid': 'run-error' }, run.error),
          )
        : null,
      h('section', {}, h('h2', {}, 'Params'), jsonBlock(run.params)),
      run.progress ? h('section', {}, h('h2', {}, 'Progress'), jsonBlock(run.progress)) : null,
      h(
        'section',
        { 'data-testid': 'timeline' },
        h('h2', {}, `Timeline (${steps.length} steps)`),
        gantt.element,
        stepsTable(steps),
      ),
      ...extras.map((e) => e?.element ?? null),
      run.output !== null && run.output !== undefined
        ? h('section', {}, h('h2', {}, 'Output'), jsonBlock(run.output))
        : null,
    );
    return live.has(run.status);
  };

  const cancel = async () => {
    const reply = await api('POST', `runs/${encodeURIComponent(runId)}/cancel`, {
      reason: 'canceled from the portal',
    });
    if (!reply.ok) body.prepend(errorLine(reply.error));
    else void draw();
  };

  let stillLive = await draw();
  ctx.root.append(logsPanel(ctx, runId, stillLive));
  ctx.every(2000, async () => {
    if (stillLive) stillLive = await draw();
  });
}

/** @param {Step[]} steps */
function stepsTable(steps) {
  return table(
    ['step', 'kind', 'status', 'attempts', 'started', 'duration'],
    steps.map((s) => {
      const first = s.attempts[0];
      const last = s.attempts[s.attempts.length - 1];
      const total = s.attempts.reduce((sum, a) => sum + (a.durationMs ?? 0), 0);
      return [
        s.name,
        s.kind,
        statusBadge(s.status),
        s.attempts.length,
        formatTime(first?.startedAt),
        last?.finishedAt ? formatDuration(total) : 'running',
      ];
    }),
    'steps-table',
  );
}
