// @ts-check
// Retention: the lake ledger (`GET /api/retention`: what is scheduled, what is due now, and
// what was deleted: the ledger keeps each deletion's time, attempts and last error, which is
// the audit the API returns), the lake pruner's dry run, and the verified beamline pruner's
// dry run for a config (`POST /api/beamline/prune {config, dryRun: true}`: what it would
// delete, which copy survives, and what it would refuse), with that beamline's retention ledger
// (`GET /api/beamline/retention`) and the pruner's audit (`GET /api/beamline/prune/audit`:
// every deletion and refusal, who, when, and the surviving copy). Dry runs write nothing.
import { api, queryString } from './api.mjs';
import { errorLine, formatTime, h, setChildren, statusBadge, table, tableOrNote } from './dom.mjs';

/**
 * @typedef {{ endpoint: string, path: string, scheduledAt: string, dueAt: string, reason: string, requestedBy: string, state: string, prunedAt?: string, attempts: number, lastError?: string }} RetentionEntry
 * @typedef {{ endpoint: string, path: string, dueAt: string, outcome: string, reason?: string, error?: string, survivor?: { endpoint: string, path: string } }} PruneItem
 * @typedef {{ endpoint: string, path: string, state: string, dueAt: string, afterDays: number, runId: string, exportControlled: boolean, prunedAt?: string, attempts?: number, due: boolean }} BeamlineEntry
 * @typedef {{ at: string, who: string, action: string, endpoint: string, path: string, survivor?: { endpoint: string, path: string }, refusal?: { code: string, reason: string } }} AuditRecord
 */

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderRetention(ctx) {
  const ledger = h('div', { 'data-testid': 'retention-ledger' });
  const lakePreview = h('div', { 'data-testid': 'lake-preview' });
  const beamlinePreview = h('div', { 'data-testid': 'beamline-preview' });
  const beamlineLedger = h('div', { 'data-testid': 'beamline-ledger' });
  const beamlineAudit = h('div', { 'data-testid': 'beamline-audit' });
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
          const config = configBox.value.trim();
          void previewBeamline(beamlinePreview, config);
          void showBeamlineLedger(beamlineLedger, beamlineAudit, config);
        },
      },
      h('label', {}, 'beamline config ', configBox),
      h('button', { type: 'submit', 'data-testid': 'beamline-dry-run' }, 'Preview'),
    ),
    beamlinePreview,
    h('h2', {}, 'Beamline retention ledger'),
    beamlineLedger,
    h('h2', {}, 'Beamline pruner: audit'),
    beamlineAudit,
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

/**
 * The beamline's ledger (each copy, its state and due date) and the pruner's audit, newest
 * first. Both are read-only; a config that cannot be read is the API's error, once.
 * @param {HTMLElement} ledgerInto @param {HTMLElement} auditInto @param {string} config
 */
async function showBeamlineLedger(ledgerInto, auditInto, config) {
  const [ledger, audit] = await Promise.all([
    api('GET', `beamline/retention${queryString({ config })}`),
    api('GET', `beamline/prune/audit${queryString({ config })}`),
  ]);
  if (!ledger.ok) {
    ledgerInto.replaceChildren(errorLine(ledger.error));
    auditInto.replaceChildren();
    return;
  }
  /** @type {{ beamline: string, entries: BeamlineEntry[] }} */
  const view = ledger.data;
  setChildren(
    ledgerInto,
    tableOrNote(
      'No copies recorded.',
      ['endpoint', 'path', 'state', 'due', '', 'kept for', 'run', 'pruned', 'attempts'],
      view.entries.map((e) => [
        e.endpoint,
        h('code', {}, e.path),
        statusBadge(e.state),
        formatTime(e.dueAt),
        e.due ? statusBadge('due') : '',
        `${e.afterDays} d`,
        h('a', { href: `#/runs/${encodeURIComponent(e.runId)}` }, e.runId),
        formatTime(e.prunedAt),
        e.attempts ?? 0,
      ]),
      'beamline-ledger-table',
    ),
  );
  if (!audit.ok) return auditInto.replaceChildren(errorLine(audit.error));
  /** @type {{ beamline: string, records: AuditRecord[] }} */
  const trail = audit.data;
  setChildren(
    auditInto,
    tableOrNote(
      'No verdicts yet.',
      ['when', 'who', 'verdict', 'endpoint', 'path', 'surviving copy', 'why refused'],
      trail.records.map((r) => [
        formatTime(r.at),
        r.who,
        statusBadge(r.action),
        r.endpoint,
        h('code', {}, r.path),
        r.survivor === undefined ? '' : `${r.survivor.endpoint}: ${r.survivor.path}`,
        r.refusal?.reason ?? '',
      ]),
      'beamline-audit-table',
    ),
  );
}

/** @param {PruneItem[]} entries @param {string} testId */
function pruneTable(entries, testId) {
  return tableOrNote(
    'Nothing due.',
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
