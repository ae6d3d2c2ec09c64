// @ts-check
// Retention: the lake ledger (`GET /api/retention`: what is scheduled, what is due now, and
// what was deleted: the ledger keeps each deletion's time, attempts and last error, which is
// the audit the API returns), the lake pruner's dry run, and the verified beamline pruner's
// dry run for a config (`POST /api/beamline/prune {config, dryRun: true}`: what it would
// delete, which copy survives, and what it would refuse). Dry runs write nothing.
import { api, queryString } from './api.mjs';
import { errorLine, formatTime, h, setChildren, statusBadge, table } from './dom.mjs';

/**
 * @typedef {{ endpoint: string, path: string, scheduledAt: string, dueAt: string, reason: string, requestedBy: string, state: string, prunedAt?: string, attempts: number, lastError?: string }} RetentionEntry
 * @typedef {{ endpoint: string, path: string, dueAt: string, outcome: string, reason?: string, error?: string, survivor?: { endpoint: string, path: string } }} PruneItem
 */

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderRetention(ctx) {
  const ledger = h('div', { 'data-testid': 'retention-ledger' });
  const lakePreview = h('div', { 'data-testid': 'lake-preview' });
  const beamlinePreview = h('div', { 'data-testid': 'beamline-preview' });
  const configBox = /** @type {HTMLInputElement} */ (
    h('input', {
      'data-testid': 'prune-config',
      value: ctx.query.get('config') ?? 'beamline.yaml',
      size: 40,
    })
  );
  ctx.root.append(
    h('h1', {}, 'Retention'),
    ledger,
    h('h2', {}, 'Lake pruner: dry run'),
    h(
      'p',
      { class: 'actions' },
      h(
        'button',
        { 'data-testid': 'lake-dry-run', onclick: () => void previewLake(lakePreview) },
        'Preview what the lake pruner would delete now',
      ),
    ),
    lakePreview,
    h('h2', {}, 'Beamline pruner: dry run'),
    h(
      'form',
      {
        class: 'actions',
        onsubmit: (/** @type {Event} */ e) => {
          e.preventDefault();
          void previewBeamline(beamlinePreview, configBox.value.trim());
        },
      },
      h('label', {}, 'beamline config ', configBox),
      h('button', { type: 'submit', 'data-testid': 'beamline-dry-run' }, 'Preview'),
    ),
    beamlinePreview,
  );

  const reply = await api('GET', 'retention');
  if (!ctx.active()) return;
  if (!reply.ok) return ledger.replaceChildren(errorLine(reply.error));
  /** @type {RetentionEntry[]} */
  const entries = reply.data;
  const now = Date.now();
  const scheduled = entries.filter((e) => e.state === 'scheduled');
  const done = entries.filter((e) => e.state !== 'scheduled');
  const due = scheduled.filter((e) => Date.parse(e.dueAt) <= now);
  setChildren(
    ledger,
    h('h2', {}, `Scheduled (${scheduled.length}, ${due.length} due now)`),
    scheduled.length === 0
      ? h('p', { class: 'muted' }, 'Nothing scheduled.')
      : table(
          ['endpoint', 'path', 'due', '', 'reason', 'requested by', 'attempts', 'last error'],
          scheduled.map((e) => [
            e.endpoint,
            h('code', {}, e.path),
            formatTime(e.dueAt),
            Date.parse(e.dueAt) <= now ? statusBadge('due') : '',
            e.reason,
            e.requestedBy,
            e.attempts,
            e.lastError ?? '',
          ]),
          'retention-scheduled',
        ),
    h('h2', {}, `Deletions and cancellations (${done.length})`),
    done.length === 0
      ? h('p', { class: 'muted' }, 'None yet.')
      : table(
          ['endpoint', 'path', 'state', 'when', 'reason', 'requested by', 'attempts'],
          done.map((e) => [
            e.endpoint,
            h('code', {}, e.path),
            statusBadge(e.state),
            formatTime(e.prunedAt),
            e.reason,
            e.requestedBy,
            e.attempts,
          ]),
          'retention-done',
        ),
  );
}

/** @param {HTMLElement} into */
async function previewLake(into) {
  const reply = await api('POST', `retention/prune${queryString({ dryRun: 'true' })}`);
  if (!reply.ok) return into.replaceChildren(errorLine(reply.error));
  /** @type {{ due: number, entries: PruneItem[] }} */
  const report = reply.data;
  setChildren(
    into,
    h('p', {}, `${report.due} due; nothing was deleted (dry run).`),
    pruneTable(report.entries, 'lake-preview-table'),
  );
}

/** @param {HTMLElement} into @param {string} config */
async function previewBeamline(into, config) {
  const reply = await api('POST', 'beamline/prune', { config, dryRun: true });
  if (!reply.ok) return into.replaceChildren(errorLine(reply.error));
  /** @type {{ beamline: string, at: string, due: number, refused: number, gone: number, failed: number, entries: PruneItem[] }} */
  const report = reply.data;
  setChildren(
    into,
    h(
      'p',
      {},
      `Beamline ${report.beamline}, judged at ${formatTime(report.at)}: ${report.due} due, `,
      `${report.refused} would be refused, ${report.gone} gone, ${report.failed} failed; `,
      'nothing was deleted (dry run).',
    ),
    pruneTable(report.entries, 'beamline-preview-table'),
  );
}

/** @param {PruneItem[]} entries @param {string} testId */
function pruneTable(entries, testId) {
  if (entries.length === 0)
    return h('p', { class: 'muted', 'data-testid': testId }, 'Nothing due.');
  return table(
    ['endpoint', 'path', 'due', 'verdict', 'why'],
    entries.map((e) => [
      e.endpoint,
      h('code', {}, e.path),
      formatTime(e.dueAt),
      statusBadge(e.outcome),
      e.reason ?? e.error ?? '',
    ]),
    testId,
  );
}
