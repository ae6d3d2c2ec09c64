// @ts-check
// Runs, newest first, filtered by pipeline and status (kept in the URL so a filtered list can
// be bookmarked); refreshed every two seconds while any run shown is still live.
import { api, queryString } from './api.mjs';
import { errorLine, formatTime, h, statusBadge, table, setChildren } from './dom.mjs';

const statuses = ['', 'pending', 'running', 'completed', 'failed', 'canceled'];
const live = new Set(['pending', 'running']);

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderRuns(ctx) {
  const pipeline = ctx.query.get('pipeline') ?? '';
  const status = ctx.query.get('status') ?? '';
  const pipelines = await api('GET', 'pipelines');
  const names = pipelines.ok ? pipelines.data.map((/** @type {{name: string}} */ p) => p.name) : [];

  /** @param {string} key @param {string} value */
  const setFilter = (key, value) => {
    const next = new URLSearchParams(ctx.query);
    if (value) next.set(key, value);
    else next.delete(key);
    location.hash = `#/runs${next.toString() ? `?${next}` : ''}`;
  };
  const select = (
    /** @type {string} */ key,
    /** @type {string[]} */ options,
    /** @type {string} */ value,
  ) =>
    h(
      'select',
      {
        'data-testid': `filter-${key}`,
        onchange: (e) => setFilter(key, /** @type {HTMLSelectElement} */ (e.target).value),
      },
      ...options.map((o) =>
        h('option', { value: o, selected: o === value }, o === '' ? `any ${key}` : o),
      ),
    );

  const list = h('div', { 'data-testid': 'runs-list' });
  const flash = ctx.query.get('started');
  setChildren(
    ctx.root,
    h('h1', {}, 'Runs'),
    flash
      ? h(
          'p',
          { class: 'notice', 'data-testid': 'started' },
          'Started ',
          h('a', { href: `#/runs/${encodeURIComponent(flash)}` }, flash),
        )
      : null,
    h(
      'div',
      { class: 'filters' },
      select('pipeline', ['', ...names], pipeline),
      select('status', statuses, status),
    ),
    list,
  );

  let anyLive = true;
  const refresh = async () => {
    const reply = await api('GET', `runs${queryString({ pipeline, status, limit: '200' })}`);
    if (!ctx.active()) return;
    if (!reply.ok) {
      list.replaceChildren(errorLine(reply.error));
      return;
    }
    /** @type {Array<{runId: string, pipeline: string, status: string, createdAt: string, updatedAt: string}>} */
    const runs = reply.data;
    anyLive = runs.some((r) => live.has(r.status));
    setChildren(
      list,
      runs.length === 0
        ? h('p', { class: 'muted' }, 'No runs.')
        : table(
            ['run', 'pipeline', 'status', 'created', 'updated'],
            runs.map((r) => [
              h(
                'a',
                { href: `#/runs/${encodeURIComponent(r.runId)}`, 'data-run-id': r.runId },
                r.runId,
              ),
              r.pipeline,
              statusBadge(r.status),
              formatTime(r.createdAt),
              formatTime(r.updatedAt),
            ]),
            'runs-table',
          ),
      h('p', { class: 'muted' }, anyLive ? 'Refreshing while runs are live.' : ''),
    );
  };
  await refresh();
  // Every 2 s while something is live; every 10 s otherwise, so a run started elsewhere shows up.
  let tick = 0;
  ctx.every(2000, async () => {
    tick++;
    if (anyLive || tick % 5 === 0) await refresh();
  });
}
