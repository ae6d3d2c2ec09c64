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

/**
 * Slots per backend as stacked bars: in use, then free.
 * @param {Array<{ backend: string, inUse: number, free: number }>} backends
 */
export function slotsChart(backends) {
  return mount('slots-chart', {
    type: 'bar',
    data: {
      labels: backends.map((b) => b.backend),
      datasets: [
        { label: 'in use', data: backends.map((b) => b.inUse), backgroundColor: '#bf8700' },
        { label: 'free', data: backends.map((b) => b.free), backgroundColor: '#1a7f37' },
      ],
    },
    options: {
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
    },
  });
}

/**
 * Slots in use per backend over time, one line each, in seconds since the page opened.
 * @param {Array<{ backend: string, points: Array<{ t: number, inUse: number }> }>} series
 */
export function slotsOverTimeChart(series) {
  return mount('slots-over-time', {
    type: 'line',
    data: {
      datasets: series.map((s, i) => ({
        label: s.backend,
        data: s.points.map((p) => ({ x: p.t, y: p.inUse })),
        borderColor: ['#2457c5', '#bf8700', '#8250df', '#1a7f37'][i % 4],
        stepped: true,
      })),
    },
    options: {
      scales: {
        x: {
          type: 'linear',
          min: 0,
          title: { display: true, text: 'seconds since this page opened' },
        },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'in use' } },
      },
    },
  });
}

/**
 * What each step of a model run used (from its summary): CPU average and peak in %, and the
 * peak resident memory in MB on a second axis.
 * @param {Array<{ label: string, cpuAvg: number, cpuMax: number, rssMaxMb: number }>} rows
 */
export function stepUsageChart(rows) {
  return mount('step-usage', {
    type: 'bar',
    data: {
      labels: rows.map((r) => r.label),
      datasets: [
        { label: 'cpu avg %', data: rows.map((r) => r.cpuAvg), backgroundColor: '#2457c5' },
        { label: 'cpu max %', data: rows.map((r) => r.cpuMax), backgroundColor: '#8250df' },
        {
          label: 'rss max MB',
          data: rows.map((r) => r.rssMaxMb),
          backgroundColor: '#bf8700',
          yAxisID: 'mb',
        },
      ],
    },
    options: {
      scales: {
        y: { beginAtZero: true, title: { display: true, text: 'CPU %' } },
        mb: {
          position: 'right',
          beginAtZero: true,
          grid: { drawOnChartArea: false },
          title: { display: true, text: 'MB' },
        },
      },
    },
  });
}

const lineColours = ['#2457c5', '#bf8700', '#8250df', '#1a7f37', '#c0362c', '#0969da', '#6e7781'];

/**
 * A model run's CPU and memory over time (`GET /api/runs/{runId}/performance`): one line per
 * step and iteration, in seconds since the run was created. Two plots: CPU % of each step's
 * processes, and their resident memory in MiB (with the machine's used memory, dashed).
 * @param {Array<{ iteration: number, step: string, samples: Array<{ at: string, cpuPercent: number | null, rssBytes: number | null, systemMemoryUsedBytes: number | null }> }>} steps
 * @param {string} createdAt
 */
export function performanceCharts(steps, createdAt) {
  const t0 = Date.parse(createdAt);
  const x = (/** @type {string} */ at) => (Date.parse(at) - t0) / 1000;
  const mib = 1024 * 1024;
  const axis = {
    type: 'linear',
    min: 0,
    title: { display: true, text: 'seconds since the run was created' },
  };
  const cpu = mount('performance-cpu', {
    type: 'line',
    data: {
      datasets: steps.map((s, i) => ({
        label: `${s.iteration} · ${s.step}`,
        data: s.samples
          .filter((p) => p.cpuPercent !== null)
          .map((p) => ({ x: x(p.at), y: p.cpuPercent })),
        borderColor: lineColours[i % lineColours.length],
        pointRadius: 1,
      })),
    },
    options: {
      scales: { x: axis, y: { beginAtZero: true, title: { display: true, text: 'CPU %' } } },
    },
  });
  const system = steps
    .flatMap((s) => s.samples)
    .filter((p) => p.systemMemoryUsedBytes !== null)
    .map((p) => ({ x: x(p.at), y: /** @type {number} */ (p.systemMemoryUsedBytes) / mib }))
    .sort((a, b) => a.x - b.x);
  const memory = mount('performance-memory', {
    type: 'line',
    data: {
      datasets: [
        ...steps.map((s, i) => ({
          label: `${s.iteration} · ${s.step} rss`,
          data: s.samples
            .filter((p) => p.rssBytes !== null)
            .map((p) => ({ x: x(p.at), y: /** @type {number} */ (p.rssBytes) / mib })),
          borderColor: lineColours[i % lineColours.length],
          pointRadius: 1,
          yAxisID: 'y',
        })),
        ...(system.length > 0
          ? [
              {
                label: 'machine memory used',
                data: system,
                borderColor: '#8c959f',
                borderDash: [4, 4],
                pointRadius: 0,
                yAxisID: 'system',
              },
            ]
          : []),
      ],
    },
    options: {
      scales: {
        x: axis,
        y: { beginAtZero: true, title: { display: true, text: 'resident MiB' } },
        system: {
          position: 'right',
          beginAtZero: true,
          grid: { drawOnChartArea: false },
          title: { display: true, text: 'machine MiB' },
        },
      },
    },
  });
  return {
    element: h('div', {}, cpu.element, memory.element),
    destroy: () => {
      cpu.destroy();
      memory.destroy();
    },
  };
}

/**
 * Slot history (`GET /api/slots/history`): per backend, slots in use (solid, stepped) and
 * slots offered (dashed), in minutes before now.
 * @param {Array<{ at: string, backends: Array<{ backend: string, slots: number, inUse: number }> }>} samples
 * @param {number} now  ms since the epoch
 */
export function slotHistoryChart(samples, now) {
  const names = [...new Set(samples.flatMap((s) => s.backends.map((b) => b.backend)))].sort();
  const x = (/** @type {string} */ at) => (Date.parse(at) - now) / 60_000;
  /** @param {string} name @param {'inUse' | 'slots'} field */
  const points = (name, field) =>
    samples.flatMap((s) => {
      const b = s.backends.find((e) => e.backend === name);
      return b ? [{ x: x(s.at), y: b[field] }] : [];
    });
  return mount('slot-history', {
    type: 'line',
    data: {
      datasets: names.flatMap((name, i) => [
        {
          label: `${name} in use`,
          data: points(name, 'inUse'),
          borderColor: lineColours[i % lineColours.length],
          stepped: true,
          pointRadius: 0,
        },
        {
          label: `${name} slots`,
          data: points(name, 'slots'),
          borderColor: lineColours[i % lineColours.length],
          borderDash: [4, 4],
          stepped: true,
          pointRadius: 0,
        },
      ]),
    },
    options: {
      scales: {
        x: { type: 'linear', max: 0, title: { display: true, text: 'minutes before now' } },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'slots' } },
      },
    },
  });
}
