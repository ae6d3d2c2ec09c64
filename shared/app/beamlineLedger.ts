import { z } from 'zod';
import type { PruneAuditRecord } from '../domain/beamline/pruneSafety.js';
import { parseInput } from '../domain/validation.js';
import {
  beamlineRetentionCollection,
  type BeamlineDeps,
  type BeamlineRetentionEntry,
  type BeamlineRetentionState,
} from './beamline.js';
import { beamlinePruneAuditCollection, isDueForPrune } from './beamlinePrune.js';
import { loadBeamlineConfig } from './beamlineServices.js';

/**
 * Read-only views of a beamline's retention ledger and of the verified pruner's audit, for the
 * portal and scripts: what is scheduled (and due now), what was pruned or refused and why.
 * The config names the beamline (its entries) and its endpoints (the audit's partitions).
 */
const states = [
  'scheduled',
  'refused',
  'pruned',
  'gone',
] as const satisfies readonly BeamlineRetentionState[];

export const beamlineLedgerQuerySchema = z
  .object({
    config: z.string().min(1, 'must name the beamline config').max(1024),
    state: z.enum(states, { error: `must be one of ${states.join(', ')}` }).optional(),
    limit: z.coerce.number().int().min(1).max(5000).default(500),
  })
  .strict();

export interface BeamlineRetentionView {
  beamline: string;
  entries: Array<BeamlineRetentionEntry & { due: boolean }>;
}

export async function listBeamlineRetention(
  deps: BeamlineDeps,
  query: unknown,
): Promise<BeamlineRetentionView> {
  const q = parseInput(beamlineLedgerQuerySchema, query, 'query');
  const { config } = await loadBeamlineConfig(deps.sourcesRoot, q.config);
  const now = deps.clock.now();
  const docs = await deps.state.query<BeamlineRetentionEntry>(beamlineRetentionCollection, {
    where: { beamline: config.beamline, ...(q.state === undefined ? {} : { state: q.state }) },
  });
  const entries = docs
    .map((doc) => ({ ...doc.body, due: isDueForPrune(doc.body, now) }))
    .sort((a, b) => a.dueAt.localeCompare(b.dueAt) || a.path.localeCompare(b.path))
    .slice(0, q.limit);
  return { beamline: config.beamline, entries };
}

export interface BeamlineAuditView {
  beamline: string;
  records: Array<PruneAuditRecord & { entryId?: string }>;
}

export async function listBeamlinePruneAudit(
  deps: BeamlineDeps,
  query: unknown,
): Promise<BeamlineAuditView> {
  const q = parseInput(beamlineLedgerQuerySchema.omit({ state: true }), query, 'query');
  const { config } = await loadBeamlineConfig(deps.sourcesRoot, q.config);
  const records: BeamlineAuditView['records'] = [];
  for (const endpoint of Object.keys(config.endpoints)) {
    const docs = await deps.state.query<PruneAuditRecord & { entryId?: string }>(
      beamlinePruneAuditCollection,
      { pk: endpoint },
    );
    records.push(...docs.map((doc) => doc.body));
  }
  records.sort((a, b) => b.at.localeCompare(a.at) || a.path.localeCompare(b.path));
  return { beamline: config.beamline, records: records.slice(0, q.limit) };
}
