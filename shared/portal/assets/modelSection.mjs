// @ts-check
// The `model` run's section of the run page: its iteration × step grid (see modelGrid.mjs for
// where each cell's state comes from) and what each step used. The API exposes no CPU/memory
// samples over time (they are written as CSVs in the databank's `performance/` folder), so the
// plot shows each step's summary figures: CPU average and peak, peak resident memory.
import { api } from './api.mjs';
import { stepUsageChart } from './charts.mjs';
import { h, statusBadge, table } from './dom.mjs';
import { modelGrid } from './modelGrid.mjs';

/** @typedef {import('./runPage.mjs').RunView} RunView */

/** @param {RunView} run @returns {Promise<import('./runExtras.mjs').Section>} */
export async function modelSection(run) {
  if (run.pipeline !== 'model') return null;
  // Once a run completed its summaries say everything; before that, the job ids in its logs.
  /** @type {string[]} */
  let logSteps = [];
  if (run.status !== 'completed') {
    const logs = await api('GET', `runs/${encodeURIComponent(run.runId)}/logs`);
    if (logs.ok)
      logSteps = [...new Set(logs.data.map((/** @type {{step: string}} */ l) => l.step))];
  }
  const grid = modelGrid(run, logSteps);
  const usage = grid.iterations.flatMap((i) =>
    grid.steps.flatMap((s) => {
      const u = grid.cell(i, s).usage;
      return u ? [{ label: `${i} · ${s}`, ...u }] : [];
    }),
  );
  const chart = usage.length > 0 ? stepUsageChart(usage) : null;
  const section = h(
    'section',
    { 'data-testid': 'model' },
    h('h2', {}, 'Iterations × steps'),
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
      '"ran": its job started (from the logs); how it ended shows once the run completes.',
    ),
    h('h2', {}, 'What each step used'),
    chart
      ? chart.element
      : h('p', { class: 'muted' }, 'No step summaries yet (they come with the run’s output).'),
    h(
      'p',
      { class: 'muted' },
      'CPU and memory over time are sampled into the databank’s performance/ CSVs, which no API route serves yet.',
    ),
  );
  return { element: section, destroy: () => chart?.destroy() };
}
