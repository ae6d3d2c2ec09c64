// @ts-check
// Slots per backend: in use and free now (the `baton_backend_slots*` gauges of
// `GET /api/metrics`), the history the store keeps (`GET /api/slots/history`: the last 24 h,
// one sample per BATON_SLOT_SAMPLE_SCHEDULE tick), and in use while this page is open (every
// 5 s, finer than the sampler).
import { api, apiText } from './api.mjs';
import { slotHistoryChart, slotsChart, slotsOverTimeChart } from './charts.mjs';
import { errorLine, h, setChildren, table } from './dom.mjs';
import { parseMetrics, slotsByBackend } from './metricsText.mjs';

const pollMs = 5000;
// At one sample per 5 s, an hour of history.
const maxSamples = 720;

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderSlots(ctx) {
  const body = h('div', { 'data-testid': 'slots' });
  ctx.root.append(h('h1', {}, 'Slots per backend'), body);
  const opened = Date.now();
  /** @type {Map<string, Array<{ t: number, inUse: number }>>} */
  const history = new Map();
  /** @type {Array<() => void>} */
  let charts = [];
  ctx.onLeave(() => charts.forEach((d) => d()));

  const draw = async () => {
    const reply = await apiText('metrics');
    if (!ctx.active()) return;
    if (!reply.ok) return body.replaceChildren(errorLine(reply.error));
    const backends = slotsByBackend(parseMetrics(reply.text));
    const t = (Date.now() - opened) / 1000;
    for (const b of backends) {
      const points = history.get(b.backend) ?? [];
      points.push({ t, inUse: b.inUse });
      if (points.length > maxSamples) points.shift();
      history.set(b.backend, points);
    }
    const stored = await api('GET', 'slots/history');
    if (!ctx.active()) return;
    charts.forEach((d) => d());
    const now = slotsChart(backends);
    const overTime = slotsOverTimeChart(
      [...history].map(([backend, points]) => ({ backend, points })),
    );
    /** @type {Array<{ at: string, backends: Array<{ backend: string, slots: number, inUse: number }> }>} */
    const samples = stored.ok ? stored.data.samples : [];
    const past = samples.length > 0 ? slotHistoryChart(samples, Date.now()) : null;
    charts = [now.destroy, overTime.destroy, ...(past ? [past.destroy] : [])];
    setChildren(
      body,
      table(
        ['backend', 'slots', 'in use', 'free'],
        backends.map((b) => [b.backend, b.slots, b.inUse, b.free]),
        'slots-table',
      ),
      now.element,
      h('h2', {}, 'Slot history (last 24 h)'),
      stored.ok ? null : errorLine(stored.error),
      past
        ? past.element
        : h(
            'p',
            { class: 'muted', 'data-testid': 'slot-history-empty' },
            'No samples yet: the sampler records one per BATON_SLOT_SAMPLE_SCHEDULE tick.',
          ),
      h('h2', {}, 'In use while this page is open'),
      overTime.element,
      h(
        'p',
        { class: 'muted' },
        'In use: task jobs assigned or running, and pipeline-run jobs pending or running.',
      ),
    );
  };
  await draw();
  ctx.every(pollMs, draw);
}
