// @ts-check
// The `model` run's section of the run page: its iteration × step grid, live from the run's
// children and jobs (see modelGrid.mjs), what each step used (from its summary), CPU and
// memory over time (the databank's monitoring CSVs, `GET /api/runs/{runId}/performance`), the
// error dumps the run left with a download link per file, and the provenance of its outputs
// (which iteration, step, command and attempt built each file, its SHA-256, when).
import { api } from './api.mjs';
import { performanceCharts, stepUsageChart } from './charts.mjs';
import { errorLine, formatBytes, formatTime, h, statusBadge, table } from './dom.mjs';
import { modelGrid } from './modelGrid.mjs';

/** @typedef {import('./runPage.mjs').RunView} RunView */
/**
 * @typedef {{ name: string, iteration: number, step: string, state: string, exitCode?: number, message?: string, failedAt?: string, files: Array<{ path: string, size: number }> }} ErrorDump
 * @typedef {{ path: string, iteration: number, step: string, sha256: string, size: number, builtAt: string, jobs: Array<{ jobId: string, stepId?: string, attempt?: number, state?: string }> }} Output
 */

/** @param {RunView} run @returns {Promise<import('./runExtras.mjs').Section>} */
export async function modelSection(run) {
  if (run.pipeline !== 'model') return null;
  const id = encodeURIComponent(run.runId);
  const [children, performance, dumps, outputs] = await Promise.all([
    api('GET', `runs/${id}/children`),
    api('GET', `runs/${id}/performance`),
    api('GET', `runs/${id}/error-dumps`),
    api('GET', `runs/${id}/outputs`),
  ]);
  const grid = modelGrid(run, children.ok ? children.data : {});
  const usage = grid.iterations.flatMap((i) =>
    grid.steps.flatMap((s) => {
      const u = grid.cell(i, s).usage;
      return u ? [{ label: `${i} · ${s}`, ...u }] : [];
    }),
  );
  const usageChart = usage.length > 0 ? stepUsageChart(usage) : null;
  /** @type {Array<{ iteration: number, step: string, samples: any[] }>} */
  const perfSteps = performance.ok ? performance.data.steps : [];
  const perfCharts = perfSteps.length > 0 ? performanceCharts(perfSteps, run.createdAt) : null;
  const section = h(
    'section',
    { 'data-testid': 'model' },
    h('h2', {}, 'Iterations × steps'),
    children.ok ? null : errorLine(children.error),
    grid.steps.length === 0
      ? h('p', { class: 'muted' }, 'No step has run yet.')
      : table(
          ['iteration', ...grid.steps],
          grid.iterations.map((i) => [
            String(i),
            ...grid.steps.map((s) => {
              const cell = grid.cell(i, s);
              const badge = statusBadge(cell.state);
              if (cell.summary) badge.setAttribute('title', cell.summary);
              return badge;
            }),
          ]),
          'model-grid',
        ),
    h(
      'p',
      { class: 'muted' },
      'Live from the iterations and their jobs: queued (waiting for a slot), running, ran (its ' +
        'jobs ended, the step is being finished), completed, skipped, failed.',
    ),
    h('h2', {}, 'What each step used'),
    usageChart
      ? usageChart.element
      : h('p', { class: 'muted' }, 'No step summaries yet (they come as steps finish).'),
    h('h2', {}, 'CPU and memory over time'),
    performance.ok ? null : errorLine(performance.error),
    perfCharts
      ? perfCharts.element
      : h(
          'p',
          { class: 'muted', 'data-testid': 'performance-empty' },
          'No monitoring samples for this run (performance_monitoring off, or no step finished yet).',
        ),
    h('h2', {}, 'Error dumps'),
    dumps.ok ? errorDumpList(run.runId, dumps.data.dumps) : errorLine(dumps.error),
    h('h2', {}, 'Outputs and their provenance'),
    outputs.ok ? outputsTable(outputs.data.outputs) : errorLine(outputs.error),
  );
  return {
    element: section,
    destroy: () => {
      usageChart?.destroy();
      perfCharts?.destroy();
    },
  };
}

/** @param {string} runId @param {ErrorDump[]} dumps */
function errorDumpList(runId, dumps) {
  if (dumps.length === 0) return h('p', { class: 'muted' }, 'This run left no error dump.');
  return h(
    'div',
    { 'data-testid': 'error-dumps' },
    ...dumps.map((d) =>
      h(
        'div',
        { class: 'error-dump', 'data-dump': d.name },
        h(
          'p',
          {},
          h('strong', {}, d.name),
          ` · iteration ${d.iteration} ${d.step} · `,
          statusBadge(d.state),
          d.exitCode === undefined ? '' : ` exit ${d.exitCode}`,
          d.failedAt ? ` · ${formatTime(d.failedAt)}` : '',
        ),
        h(
          'ul',
          {},
          ...d.files.map((f) =>
            h(
              'li',
              {},
              h(
                'a',
                {
                  href: `/api/runs/${encodeURIComponent(runId)}/error-dumps/${encodeURIComponent(d.name)}/${f.path.split('/').map(encodeURIComponent).join('/')}`,
                  download: f.path.split('/').pop() ?? 'file',
                  'data-testid': 'error-dump-file',
                },
                f.path,
              ),
              ` (${formatBytes(f.size)})`,
            ),
          ),
        ),
      ),
    ),
  );
}

/** @param {Output[]} outputs */
function outputsTable(outputs) {
  if (outputs.length === 0) return h('p', { class: 'muted' }, 'No output recorded for this run.');
  return table(
    ['file', 'iteration', 'step', 'jobs (attempt)', 'sha256', 'size', 'built'],
    outputs.map((o) => [
      o.path,
      o.iteration,
      o.step,
      o.jobs.map((j) => (j.stepId ? `${j.stepId} #${j.attempt} ${j.state}` : j.jobId)).join(', '),
      h('code', { title: o.sha256 }, o.sha256.slice(0, 12)),
      formatBytes(o.size),
      formatTime(o.builtAt),
    ]),
    'outputs-table',
  );
}
