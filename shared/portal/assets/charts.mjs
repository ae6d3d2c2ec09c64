// @ts-check
// The portal's three kinds of plot, all drawn by Chart.js (loaded as a classic script from the
// app's node_modules, so `window.Chart` is its UMD global). Each returns the element to insert
// and a `destroy` the view calls when it is left or redrawn.
import { h } from './dom.mjs';

/** @returns {any} */
function chartLibrary() {
  return /** @type {any} */ (window).Chart;
}

const palette = {
  completed: '#1a7f37',
  succeeded: '#1a7f37',
  failed: '#c0362c',
  timed_out: '#c0362c',
  canceled: '#8c959f',
  scheduled: '#bf8700',
  running: '#bf8700',
  queued: '#6e7781',
  assigned: '#0969da',
  testing: '#8250df',
};

/** @param {string} state */
const colourOf = (state) => /** @type {Record<string, string>} */ (palette)[state] ?? '#2457c5';

/**
 * @param {string} testId
 * @param {object} config  a Chart.js configuration
 * @param {number} [height]  in pixels
 */
function mount(testId, config, height) {
  const canvas = h('canvas', { 'aria-label': testId, role: 'img' });
  const box = h('div', { class: 'chart', 'data-testid': testId }, canvas);
  if (height !== undefined) box.style.height = `${height}px`;
  const Chart = chartLibrary();
  const chart = Chart
    ? new Chart(canvas, {
        ...config,
        options: {
          animation: false,
          maintainAspectRatio: false,
          .../** @type {any} */ (config.options ?? {}),
        },
      })
    : null;
  return { element: box, destroy: () => chart?.destroy() };
}

/**
 * Steps as a Gantt: one floating bar per attempt, from its start to its end (or now, while it
 * runs), in seconds since the run was created.
 * @param {Array<{ name: string, status: string, attempts: Array<{ attempt: number, status: string, startedAt?: string, finishedAt?: string }> }>} steps
 * @param {string} createdAt
 * @param {number} now  ms since the epoch
 */
export function ganttChart(steps, createdAt, now) {
  const t0 = Date.parse(createdAt);
  /** @type {string[]} */
  const labels = [];
  /** @type {Array<[number, number]>} */
  const spans = [];
  /** @type {string[]} */
  const colours = [];
  for (const step of steps) {
    for (const attempt of step.attempts) {
      if (!attempt.startedAt) continue;
      const start = Date.parse(attempt.startedAt);
      const end = attempt.finishedAt ? Date.parse(attempt.finishedAt) : now;
      labels.push(step.attempts.length > 1 ? `${step.name} #${attempt.attempt}` : step.name);
      spans.push([(start - t0) / 1000, Math.max(end, start + 1) / 1000 - t0 / 1000]);
      colours.push(colourOf(attempt.status));
    }
  }
  return mount(
    'gantt',
    {
      type: 'bar',
      data: { labels, datasets: [{ label: 'attempt', data: spans, backgroundColor: colours }] },
      options: {
        indexAxis: 'y',
        plugins: { legend: { display: false } },
        scales: {
          x: {
            type: 'linear',
            min: 0,
            title: { display: true, text: 'seconds since the run was created' },
          },
          y: { ticks: { autoSkip: labels.length > 40 } },
        },
      },
    },
    Math.min(900, 60 + labels.length * 22),
  );
}

/**
 * Jobs by state as one bar each.
 * @param {Record<string, number>} byState
 */
export function stateBarChart(byState) {
  const states = Object.keys(byState);
  return mount('jobs-by-state', {
    type: 'bar',
    data: {
      labels: states,
      datasets: [
        {
          label: 'jobs',
          data: states.map((s) => byState[s]),
          backgroundColor: states.map(colourOf),
        },
      ],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

/**
 * A sweep's objective against the trial number.
 * @param {Array<{ trial: number, value: number }>} points
 * @param {string} metric
 */
export function objectiveChart(points, metric) {
  return mount('objective-plot', {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: metric,
          data: points.map((p) => ({ x: p.trial, y: p.value })),
          backgroundColor: '#2457c5',
        },
      ],
    },
    options: {
      scales: {
        x: { title: { display: true, text: 'trial' }, ticks: { precision: 0 } },
        y: { title: { display: true, text: metric } },
      },
    },
  });
}
