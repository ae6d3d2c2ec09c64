import { z } from 'zod';
import { BatonError, isBatonError } from '../domain/errors.js';
import {
  dueAtFor,
  isDue,
  retentionIdFor,
  retentionPath,
  retentionRequestSchema,
  type RetentionEntry,
  type RetentionState,
} from '../domain/retention.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import { assertMayRemoveLakePath } from './datasets.js';
import type { Lake } from '../ports/lake.js';
import type { StateStore, StoredDocument } from '../ports/stateStore.js';

/**
 * The retention ledger and the pruner. Flows schedule deletions (the beamline prunes raw data
 * after N days); the pruner timer deletes what is due and records what it did, so every
 * deletion leaves an audit entry. Copy verification before pruning arrives with the beamline
 * flows; today the pruner deletes lake paths only.
 */
export interface RetentionDeps {
  state: StateStore;
  lake: Lake;
  clock: Clock;
}

export const retentionCollection = 'retention';

export async function scheduleRetention(
  deps: RetentionDeps,
  body: unknown,
  user: string,
): Promise<RetentionEntry> {
  const request = parseInput(retentionRequestSchema, body, 'body');
  const path = retentionPath(request.path);
  // Another user's uploads and task outputs are theirs to prune, not the caller's.
  assertMayRemoveLakePath(path, user, 'path');
  const now = deps.clock.now();
  const entry: RetentionEntry = {
    endpoint: request.endpoint,
    path,
    scheduledAt: now.toISOString(),
    dueAt: dueAtFor(now, request.afterDays),
    reason: request.reason,
    requestedBy: user,
    state: 'scheduled',
    attempts: 0,
  };
  await deps.state.upsert(retentionCollection, {
    id: retentionIdFor(entry.endpoint, path),
    pk: entry.endpoint,
    body: entry,
  });
  return entry;
}

export const retentionQuerySchema = z.object({
  state: z.enum(['scheduled', 'pruned', 'gone', 'canceled']).optional(),
  due: z.enum(['true', 'false']).optional(),
});

export async function listRetention(
  deps: RetentionDeps,
  query: unknown,
): Promise<RetentionEntry[]> {
  const q = parseInput(retentionQuerySchema, query, 'query');
  const docs = await deps.state.query<RetentionEntry>(retentionCollection, {
    ...(q.state ? { where: { state: q.state } } : {}),
    orderBy: { field: 'dueAt', direction: 'asc' },
  });
  const now = deps.clock.now();
  return docs
    .map((d) => d.body)
    .filter((e) => q.due === undefined || isDue(e, now) === (q.due === 'true'));
}

export interface PruneReport {
  dryRun: boolean;
  due: number;
  pruned: number;
  gone: number;
  failed: number;
  entries: Array<
    Pick<RetentionEntry, 'endpoint' | 'path' | 'dueAt'> & {
      outcome: RetentionState | 'would-prune' | 'failed';
      error?: string;
    }
  >;
}

/** Deletes every due path (or, dry, says which it would). Each outcome is written back. */
export async function pruneDue(
  deps: RetentionDeps,
  options: { dryRun?: boolean } = {},
): Promise<PruneReport> {
  const now = deps.clock.now();
  const docs = await deps.state.query<RetentionEntry>(retentionCollection, {
    where: { state: 'scheduled' },
  });
  const due = docs.filter((d) => isDue(d.body, now));
  const report: PruneReport = {
    dryRun: options.dryRun === true,
    due: due.length,
    pruned: 0,
    gone: 0,
    failed: 0,
    entries: [],
  };
  for (const doc of due) {
    const { endpoint, path, dueAt } = doc.body;
    if (options.dryRun) {
      report.entries.push({ endpoint, path, dueAt, outcome: 'would-prune' });
      continue;
    }
    try {
      const removed = await deps.lake.delete(path, { recursive: true });
      const outcome: RetentionState = removed ? 'pruned' : 'gone';
      await record(deps, doc, {
        ...doc.body,
        state: outcome,
        prunedAt: now.toISOString(),
        attempts: doc.body.attempts + 1,
      });
      report[outcome]++;
      report.entries.push({ endpoint, path, dueAt, outcome });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await record(deps, doc, {
        ...doc.body,
        attempts: doc.body.attempts + 1,
        lastError: message.slice(0, 1000),
      });
      report.failed++;
      report.entries.push({ endpoint, path, dueAt, outcome: 'failed', error: message });
    }
  }
  return report;
}

/** Etag-checked: a pruner racing another (two hosts, a redelivered timer) writes once. */
async function record(
  deps: RetentionDeps,
  doc: StoredDocument<RetentionEntry>,
  next: RetentionEntry,
): Promise<void> {
  try {
    await deps.state.replace(retentionCollection, { id: doc.id, pk: doc.pk, body: next }, doc.etag);
  } catch (error) {
    if (!isBatonError(error, 'precondition_failed')) throw error;
  }
}

export function assertPruneAllowed(user: string): void {
  if (user === 'anonymous') throw new BatonError('forbidden', 'pruning needs a signed-in user');
}
