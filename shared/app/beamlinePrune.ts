import { createHash } from 'node:crypto';
import { z } from 'zod';
import { findEndpoint } from '../domain/beamline/config.js';
import {
  auditRecord,
  decidePrune,
  type ObservedCopy,
  type PruneAuditRecord,
  type PruneCandidate,
  type PruneDecision,
} from '../domain/beamline/pruneSafety.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { parseInput } from '../domain/validation.js';
import type { StateStore, StoredDocument } from '../ports/stateStore.js';
import type { TransferService } from '../ports/transfers.js';
import {
  beamlineRetentionCollection,
  type BeamlineDeps,
  type BeamlineRetentionEntry,
} from './beamline.js';
import { beamlineDepsOf } from './beamlineDeps.js';
import { beamlineServicesFor, loadBeamlineConfig } from './beamlineServices.js';
import type { Services } from './services.js';

/**
 * The verified beamline pruner (issue 7, "Retention"): deletes a due copy only when
 * `decidePrune` proves a copy with the same checksum survives at another endpoint of the config
 * that is not itself due. Every verdict is written back to the entry and to the audit log
 * (`beamlinePruneAudit`); a refusal keeps the entry for the next pass and raises an alert (a
 * warning through `deps.warn`). A dry run reads and decides exactly the same way and writes
 * nothing.
 *
 * Copies are looked for at the same endpoint-relative path under every folder endpoint of the
 * config (the new-file flow keeps the relative path on every hop). Endpoints the beamline
 * services do not reach yet (Globus, lake) are not looked at, so they never vouch for a copy;
 * an entry at such an endpoint fails with the reason and stays.
 */
export interface BeamlinePruneDeps extends BeamlineDeps {
  /** The alert: one line per refusal or failed deletion. */
  warn: (message: string) => void;
}

export const beamlinePruneAuditCollection = 'beamlinePruneAudit';

/** Who the timer prunes as. */
export const beamlinePrunerIdentity = 'baton-pruner';

export interface BeamlinePruneOptions {
  /** The beamline config, inside the sources root (as the flows' `config` param). */
  config: string;
  dryRun?: boolean;
  /** Defaults to the clock's now; a test or a look-ahead dry run passes a later date. */
  now?: Date;
  /** Recorded in the audit (the caller over HTTP or the CLI; the timer is 'baton-pruner'). */
  who?: string;
}

export type BeamlinePruneOutcome = 'deleted' | 'would-delete' | 'refused' | 'gone' | 'failed';

export interface BeamlinePruneItem {
  endpoint: string;
  path: string;
  dueAt: string;
  outcome: BeamlinePruneOutcome;
  /** Why: the survivor for a deletion, the refusal's reason, or the failure. */
  reason: string;
  survivor?: { endpoint: string; path: string; checksum: string };
  refusal?: PruneAuditRecord['refusal'];
  error?: string;
}

export interface BeamlinePruneReport {
  beamline: string;
  dryRun: boolean;
  /** ISO 8601: the time entries were judged due against. */
  at: string;
  due: number;
  deleted: number;
  refused: number;
  gone: number;
  failed: number;
  entries: BeamlinePruneItem[];
}

export const beamlinePruneRequestSchema = z
  .object({
    config: z.string().min(1).max(1024),
    dryRun: z.boolean().default(false),
  })
  .strict();

type EntryDoc = StoredDocument<BeamlineRetentionEntry>;

/** One pass over the config's due retention entries (see the module comment for the rules). */
export async function pruneBeamline(
  deps: BeamlinePruneDeps,
  options: BeamlinePruneOptions,
): Promise<BeamlinePruneReport> {
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, options.config);
  const { config } = loaded;
  const { transfers, folderRoots } = beamlineServicesFor(loaded, deps);
  const now = options.now ?? deps.clock.now();
  const who = options.who ?? beamlinePrunerIdentity;
  const dryRun = options.dryRun === true;

  const due = (await deps.state.query<BeamlineRetentionEntry>(beamlineRetentionCollection, {}))
    .filter((d) => d.body.beamline === config.beamline && isDueForPrune(d.body, now))
    .sort(
      (a, b) =>
        compare(a.body.dueAt, b.body.dueAt) ||
        compare(a.body.endpoint, b.body.endpoint) ||
        compare(a.body.path, b.body.path),
    );
  // Copies due in this pass never vouch for each other (decidePrune's `dueForDeletion`).
  const dueCopies = new Set(due.map((d) => copyKey(d.body.endpoint, d.body.path)));
  const report: BeamlinePruneReport = {
    beamline: config.beamline,
    dryRun,
    at: now.toISOString(),
    due: due.length,
    deleted: 0,
    refused: 0,
    gone: 0,
    failed: 0,
    entries: [],
  };

  for (const doc of due) {
    const entry = doc.body;
    const base = { endpoint: entry.endpoint, path: entry.path, dueAt: entry.dueAt };
    try {
      const known = findEndpoint(config, entry.endpoint) !== undefined;
      if (known && !Object.hasOwn(folderRoots, entry.endpoint)) {
        throw new BatonError(
          'precondition_failed',
          `endpoints.${entry.endpoint}: only folder endpoints are pruned yet`,
        );
      }
      const current = known ? await transfers.stat(entry.endpoint, entry.path) : undefined;
      if (known && current === undefined) {
        if (!dryRun) {
          await record(deps.state, doc, {
            ...entry,
            state: 'gone',
            prunedAt: now.toISOString(),
            attempts: (entry.attempts ?? 0) + 1,
          });
        }
        report.gone++;
        report.entries.push({ ...base, outcome: 'gone', reason: 'the file is no longer there' });
        continue;
      }
      const candidate: PruneCandidate = {
        endpoint: entry.endpoint,
        path: entry.path,
        // What is at the endpoint now is what would be deleted, so that is what must survive.
        checksum: current?.checksum ?? entry.checksum,
        exportControlled: entry.exportControlled,
      };
      const copies = await observeCopies(transfers, folderRoots, entry, dueCopies);
      const decision = decidePrune(candidate, copies, config);
      const item = await apply(deps, { doc, candidate, decision, who, now, dryRun, transfers });
      report.entries.push(item);
      if (item.outcome === 'deleted') report.deleted++;
      if (item.outcome === 'refused') report.refused++;
      if (item.outcome === 'gone') report.gone++;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      deps.warn(
        `beamline ${config.beamline}: pruning ${entry.path} at ${entry.endpoint} failed: ${message}`,
      );
      if (!dryRun) {
        await record(deps.state, doc, {
          ...entry,
          attempts: (entry.attempts ?? 0) + 1,
          lastError: message.slice(0, 1000),
        });
      }
      report.failed++;
      report.entries.push({ ...base, outcome: 'failed', reason: message, error: message });
    }
  }
  return report;
}

/** Scheduled or refused (refusals are tried again), and its time has come. */
export function isDueForPrune(entry: BeamlineRetentionEntry, now: Date): boolean {
  return (
    (entry.state === 'scheduled' || entry.state === 'refused') &&
    Date.parse(entry.dueAt) <= now.getTime()
  );
}

/** The same relative path at every other folder endpoint of the config, where it exists. */
async function observeCopies(
  transfers: TransferService,
  folderRoots: Record<string, string>,
  entry: BeamlineRetentionEntry,
  dueCopies: ReadonlySet<string>,
): Promise<ObservedCopy[]> {
  const copies: ObservedCopy[] = [];
  for (const endpoint of Object.keys(folderRoots).sort(compare)) {
    if (endpoint === entry.endpoint) continue;
    const found = await transfers.stat(endpoint, entry.path);
    if (found === undefined) continue;
    copies.push({
      endpoint,
      path: entry.path,
      checksum: found.checksum,
      dueForDeletion: dueCopies.has(copyKey(endpoint, entry.path)),
    });
  }
  return copies;
}

async function apply(
  deps: BeamlinePruneDeps,
  input: {
    doc: EntryDoc;
    candidate: PruneCandidate;
    decision: PruneDecision;
    who: string;
    now: Date;
    dryRun: boolean;
    transfers: TransferService;
  },
): Promise<BeamlinePruneItem> {
  const { doc, candidate, decision, who, now, dryRun, transfers } = input;
  const entry = doc.body;
  const base = { endpoint: entry.endpoint, path: entry.path, dueAt: entry.dueAt };
  const audit = auditRecord({ who, at: now, candidate, decision, dryRun });
  if (decision.verdict === 'refuse') {
    if (!dryRun) {
      deps.warn(
        `beamline ${entry.beamline}: refused to prune ${entry.path} at ${entry.endpoint}: ${decision.reason} (${decision.refusal}); kept for the next pass`,
      );
      await record(deps.state, doc, {
        ...entry,
        state: 'refused',
        audit,
        attempts: (entry.attempts ?? 0) + 1,
      });
      await writeAudit(deps.state, doc.id, audit);
    }
    return {
      ...base,
      outcome: 'refused',
      reason: decision.reason,
      ...(audit.refusal === undefined ? {} : { refusal: audit.refusal }),
    };
  }
  const { survivor } = decision;
  const reason = `a copy with the same checksum survives at ${survivor.endpoint}: ${survivor.path}`;
  const survivorOf = {
    endpoint: survivor.endpoint,
    path: survivor.path,
    checksum: survivor.checksum,
  };
  if (dryRun) return { ...base, outcome: 'would-delete', reason, survivor: survivorOf };
  const removed = await transfers.remove(entry.endpoint, entry.path);
  await record(deps.state, doc, {
    ...entry,
    state: removed ? 'pruned' : 'gone',
    audit,
    prunedAt: now.toISOString(),
    attempts: (entry.attempts ?? 0) + 1,
  });
  if (!removed) return { ...base, outcome: 'gone', reason: 'the file was gone before deletion' };
  await writeAudit(deps.state, doc.id, audit);
  return { ...base, outcome: 'deleted', reason, survivor: survivorOf };
}

/** Etag-checked: a pruner racing another (two hosts, a redelivered timer) writes once. */
async function record(
  state: StateStore,
  doc: EntryDoc,
  next: BeamlineRetentionEntry,
): Promise<void> {
  try {
    await state.replace(
      beamlineRetentionCollection,
      { id: doc.id, pk: doc.pk, body: next },
      doc.etag,
    );
  } catch (error) {
    if (!isBatonError(error, 'precondition_failed')) throw error;
  }
}

/** One audit document per verdict (id from the entry, the time and the action). */
async function writeAudit(
  state: StateStore,
  entryId: string,
  audit: PruneAuditRecord,
): Promise<void> {
  const id = createHash('sha256')
    .update(`${entryId}\n${audit.at}\n${audit.action}`)
    .digest('hex')
    .slice(0, 40);
  await state.upsert(beamlinePruneAuditCollection, {
    id,
    pk: audit.endpoint,
    body: { entryId, ...audit },
  });
}

/** Over HTTP: a real prune needs a signed-in user, who is named in the audit. */
export function assertBeamlinePruneAllowed(user: string): void {
  if (user === 'anonymous') throw new BatonError('forbidden', 'pruning needs a signed-in user');
}

/** `POST /api/beamline/prune {config, dryRun}` as the caller. */
export function pruneBeamlineRequest(
  deps: BeamlinePruneDeps,
  body: unknown,
  user: string,
): Promise<BeamlinePruneReport> {
  const request = parseInput(beamlinePruneRequestSchema, body, 'body');
  if (!request.dryRun) assertBeamlinePruneAllowed(user);
  return pruneBeamline(deps, { config: request.config, dryRun: request.dryRun, who: user });
}

/** The configs the timer prunes (BATON_BEAMLINE_CONFIGS: comma-separated; empty = none). */
export function beamlineConfigsOf(setting: string): string[] {
  return setting
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The timer's pass: every listed config as 'baton-pruner'. One config's failure (a typo in the
 * setting, a missing file) is reported with its config and does not stop the others.
 */
export async function pruneListedBeamlines(
  deps: BeamlinePruneDeps,
  setting: string,
): Promise<Array<{ config: string; report?: BeamlinePruneReport; error?: string }>> {
  const results: Array<{ config: string; report?: BeamlinePruneReport; error?: string }> = [];
  for (const config of beamlineConfigsOf(setting)) {
    try {
      results.push({ config, report: await pruneBeamline(deps, { config }) });
    } catch (error) {
      results.push({ config, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return results;
}

/** The pruner's ports from the app's services; `warn` is the alert channel (the host's log). */
export function beamlinePruneDepsOf(
  services: Pick<Services, 'state' | 'clock' | 'config' | 'compute'>,
  warn: (message: string) => void,
): BeamlinePruneDeps {
  return { ...beamlineDepsOf(services), warn };
}

function copyKey(endpoint: string, path: string): string {
  return `${endpoint}\n${path}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
