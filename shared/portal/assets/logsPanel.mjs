// @ts-check
// A run's log lines, with a follow toggle: while on, the last lines are fetched every two
// seconds and the panel stays scrolled to the end.
import { api } from './api.mjs';
import { errorLine, h } from './dom.mjs';

const tail = 500;

/**
 * @param {import('./app.mjs').ViewContext} ctx
 * @param {string} runId
 * @param {boolean} live  whether to start following (a live run)
 */
export function logsPanel(ctx, runId, live) {
  const pre = h('pre', { 'data-testid': 'logs' }, 'loading…');
  const follow = /** @type {HTMLInputElement} */ (
    h('input', { type: 'checkbox', 'data-testid': 'follow', checked: live })
  );
  const load = async () => {
    const reply = await api('GET', `runs/${encodeURIComponent(runId)}/logs?tail=${tail}`);
    if (!ctx.active()) return;
    if (!reply.ok) {
      pre.replaceChildren(errorLine(reply.error));
      return;
    }
    /** @type {Array<{at: string, level: string, message: string, step: string}>} */
    const lines = reply.data;
    pre.textContent =
      lines.length === 0
        ? 'No log lines.'
        : lines.map((l) => `${l.at} ${l.level.padEnd(5)} [${l.step}] ${l.message}`).join('\n');
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  };
  ctx.every(2000, async () => {
    if (follow.checked) await load();
  });
  void load();
  return h(
    'section',
    {},
    h('h2', {}, 'Logs'),
    h('label', {}, follow, ` follow (last ${tail} lines, every 2 s)`),
    pre,
  );
}
