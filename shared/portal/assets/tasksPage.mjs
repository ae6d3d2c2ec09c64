// @ts-check
// Tasks: the list (jobs by state, progress) and one task with its jobs by state as a bar
// chart and the owner's actions. The buttons call the API as the user in the user box; the
// API decides who may act (a 403 is shown as the API words it).
import { api, queryString } from './api.mjs';
import { stateBarChart } from './charts.mjs';
import { errorLine, formatTime, h, statusBadge, table, setChildren } from './dom.mjs';

/**
 * @typedef {{ name: string, owner: string, state: string, backend: string, jobs: number, byState: Record<string, number>, percentDone: number, createdAt: string, updatedAt: string }} TaskSummary
 */

/** @param {number} percent */
const progressBar = (percent) =>
  h('span', {}, h('progress', { max: 100, value: percent }), ` ${percent.toFixed(0)} %`);

/** @param {Record<string, number>} byState */
const byStateText = (byState) =>
  Object.entries(byState)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderTasks(ctx) {
  const owner = ctx.query.get('owner') ?? '';
  const list = h('div', { 'data-testid': 'tasks-list' });
  ctx.root.append(h('h1', {}, 'Tasks'), list);
  const refresh = async () => {
    const reply = await api('GET', `tasks${queryString({ owner })}`);
    if (!ctx.active()) return;
    if (!reply.ok) return list.replaceChildren(errorLine(reply.error));
    /** @type {TaskSummary[]} */
    const tasks = reply.data;
    setChildren(
      list,
      tasks.length === 0
        ? h('p', { class: 'muted' }, 'No tasks.')
        : table(
            ['task', 'owner', 'state', 'jobs', 'by state', 'progress', 'updated'],
            tasks.map((t) => [
              h('a', { href: `#/tasks/${encodeURIComponent(t.name)}` }, t.name),
              t.owner,
              statusBadge(t.state),
              t.jobs,
              byStateText(t.byState),
              progressBar(t.percentDone),
              formatTime(t.updatedAt),
            ]),
            'tasks-table',
          ),
    );
  };
  await refresh();
  ctx.every(5000, refresh);
}

/** @param {import('./app.mjs').ViewContext} ctx @param {string} name */
export async function renderTask(ctx, name) {
  const body = h('div', { 'data-testid': 'task' });
  const result = h('div', { 'data-testid': 'action-result', role: 'status' });
  /** @type {() => void} */
  let destroyChart = () => {};
  ctx.onLeave(() => destroyChart());
  const path = `tasks/${encodeURIComponent(name)}`;

  /** @param {string} label @param {string} method @param {string} suffix */
  const act = async (label, method, suffix) => {
    const reply = await api(method, `${path}${suffix}`);
    result.replaceChildren(
      reply.ok ? h('p', { class: 'notice' }, `${label}: done`) : errorLine(reply.error),
    );
    if (reply.ok && method === 'DELETE') location.hash = '#/tasks';
    else if (reply.ok) await draw();
  };
  ctx.root.append(
    h('p', {}, h('a', { href: '#/tasks' }, '← tasks')),
    h('h1', {}, `Task ${name}`),
    h(
      'p',
      { class: 'actions' },
      h(
        'button',
        { 'data-testid': 'retry', onclick: () => void act('retry', 'POST', '/retry') },
        'Retry failed jobs',
      ),
      h(
        'button',
        { 'data-testid': 'kill', onclick: () => void act('kill', 'POST', '/kill') },
        'Kill',
      ),
      h(
        'button',
        {
          'data-testid': 'delete',
          onclick: () => confirm(`Delete task ${name}?`) && void act('delete', 'DELETE', ''),
        },
        'Delete',
      ),
    ),
    result,
    body,
  );

  const draw = async () => {
    const reply = await api('GET', path);
    if (!ctx.active()) return;
    if (!reply.ok) return body.replaceChildren(errorLine(reply.error));
    /** @type {TaskSummary & { exec: string, message?: string, jobList: Array<{ key: string, item: string, state: string, attempt: number, maxAttempts: number, exitCode?: number, message?: string, startedAt?: string, finishedAt?: string }> }} */
    const task = reply.data;
    destroyChart();
    const chart = stateBarChart(task.byState);
    destroyChart = chart.destroy;
    setChildren(
      body,
      h(
        'p',
        {},
        'owner ',
        h('strong', {}, task.owner),
        ' · state ',
        statusBadge(task.state),
        ` · backend ${task.backend} · `,
        progressBar(task.percentDone),
      ),
      task.message ? h('p', { class: 'muted' }, task.message) : null,
      h('p', {}, h('code', {}, task.exec)),
      h('h2', {}, 'Jobs by state'),
      chart.element,
      table(
        ['job', 'item', 'state', 'attempt', 'exit', 'started', 'finished', 'message'],
        task.jobList.map((j) => [
          j.key,
          j.item,
          statusBadge(j.state),
          `${j.attempt}/${j.maxAttempts}`,
          j.exitCode ?? '',
          formatTime(j.startedAt),
          formatTime(j.finishedAt),
          j.message ?? '',
        ]),
        'jobs-table',
      ),
    );
  };
  await draw();
  ctx.every(5000, draw);
}
