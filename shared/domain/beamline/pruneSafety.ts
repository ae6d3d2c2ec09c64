import { BatonError } from '../errors.js';
import { findEndpoint, type BeamlineConfig, type BeamlineEndpoint } from './config.js';

/**
 * Whether a due copy may be deleted: only when another copy is proven to survive it. Pure; the
 * pruner gathers the candidate's checksum and the copies it can see, asks `decidePrune`, and
 * writes `auditRecord(...)` for every verdict, so each deletion and each refusal says why.
 *
 * Rules:
 * - Copies at the raw data's home endpoint are never pruned.
 * - A survivor is a copy at another endpoint of the config (a second path at the same endpoint
 *   is the same storage and does not count) with exactly the same checksum string (checksums
 *   carry their algorithm, `sha256:…`, so different algorithms never match), and that is not
 *   itself due for deletion.
 * - The caller marks a copy `dueForDeletion` when a scheduled retention entry for it is due (or
 *   will be pruned in the same pass), so two due copies never vouch for each other.
 * - Export-controlled data is pruned by its own rule: only a copy at an on-site endpoint
 *   (`offsite: false`) counts as its survivor. An off-site copy of export-controlled data should
 *   not exist; it is never trusted as the one that remains.
 * - Among several survivors the home is named first, then on-site copies, then by endpoint
 *   name and path, so the verdict is the same for the same inputs.
 * - Anything unproven refuses: an unknown endpoint, a missing checksum, no copy elsewhere.
 */

export interface PruneCandidate {
  endpoint: string;
  /** Relative to the endpoint's root. */
  path: string;
  checksum: string;
  exportControlled: boolean;
}

export interface ObservedCopy {
  endpoint: string;
  path: string;
  checksum: string;
  dueForDeletion: boolean;
}

export const pruneRefusals = [
  'unknown_endpoint',
  'home_endpoint',
  'missing_checksum',
  'no_other_copy',
  'checksum_mismatch',
  'survivor_due',
  'offsite_only',
] as const;
export type PruneRefusal = (typeof pruneRefusals)[number];

export type PruneDecision =
  | { verdict: 'delete'; survivor: ObservedCopy }
  | { verdict: 'refuse'; refusal: PruneRefusal; reason: string };

function refuse(refusal: PruneRefusal, reason: string): PruneDecision {
  return { verdict: 'refuse', refusal, reason };
}

export function decidePrune(
  candidate: PruneCandidate,
  copies: readonly ObservedCopy[],
  config: BeamlineConfig,
): PruneDecision {
  const location = findEndpoint(config, candidate.endpoint);
  if (location === undefined) {
    return refuse('unknown_endpoint', `${candidate.endpoint} is not an endpoint of the config`);
  }
  if (location.home) {
    return refuse(
      'home_endpoint',
      `${location.name} is the raw data's home, which is never pruned`,
    );
  }
  if (candidate.checksum === '') {
    return refuse('missing_checksum', 'the copy to delete has no checksum to compare');
  }
  const elsewhere = copies
    .map((copy) => ({ copy, endpoint: findEndpoint(config, copy.endpoint) }))
    .filter(
      (c): c is { copy: ObservedCopy; endpoint: BeamlineEndpoint } =>
        c.endpoint !== undefined && c.endpoint.name !== candidate.endpoint,
    );
  if (elsewhere.length === 0) {
    return refuse('no_other_copy', 'no copy at another endpoint of the config');
  }
  const same = elsewhere.filter((c) => c.copy.checksum === candidate.checksum);
  if (same.length === 0) {
    const at = names(elsewhere);
    return refuse('checksum_mismatch', `the copies at ${at} have a different checksum`);
  }
  const standing = same.filter((c) => !c.copy.dueForDeletion);
  if (standing.length === 0) {
    const at = names(same);
    return refuse('survivor_due', `the matching copies (${at}) are due for deletion themselves`);
  }
  const eligible = candidate.exportControlled
    ? standing.filter((c) => !c.endpoint.offsite)
    : standing;
  if (eligible.length === 0) {
    const at = names(standing);
    return refuse(
      'offsite_only',
      `export-controlled: the only surviving copies are off-site (${at}); an on-site copy must remain`,
    );
  }
  const rank = (e: BeamlineEndpoint): number => (e.home ? 0 : e.offsite ? 2 : 1);
  const [best] = [...eligible].sort(
    (a, b) =>
      rank(a.endpoint) - rank(b.endpoint) ||
      compareText(a.endpoint.name, b.endpoint.name) ||
      compareText(a.copy.path, b.copy.path),
  );
  if (best === undefined) throw new BatonError('internal', 'no survivor after filtering');
  return { verdict: 'delete', survivor: { ...best.copy } };
}

/** Sorted and distinct, so a reason does not depend on the order the copies were listed in. */
function names(copies: ReadonlyArray<{ endpoint: BeamlineEndpoint }>): string {
  return [...new Set(copies.map((c) => c.endpoint.name))].sort(compareText).join(', ');
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export type PruneAuditAction = 'deleted' | 'would-delete' | 'refused';

/** One line of the prune audit log: who deleted (or refused to delete) what, and why it was safe. */
export interface PruneAuditRecord {
  /** ISO 8601. */
  at: string;
  who: string;
  action: PruneAuditAction;
  endpoint: string;
  path: string;
  checksum: string;
  exportControlled: boolean;
  /** Where the surviving copy is (when not refused). */
  survivor?: { endpoint: string; path: string; checksum: string };
  refusal?: { code: PruneRefusal; reason: string };
}

/**
 * The audit record of one verdict. `dryRun` records 'would-delete' for a delete verdict; the
 * pruner writes 'deleted' only after the deletion has succeeded.
 */
export function auditRecord(input: {
  who: string;
  at: Date;
  candidate: PruneCandidate;
  decision: PruneDecision;
  dryRun?: boolean;
}): PruneAuditRecord {
  const { who, at, candidate, decision } = input;
  if (who.trim() === '') throw new BatonError('internal', 'a prune audit record needs who');
  const base = {
    at: at.toISOString(),
    who,
    endpoint: candidate.endpoint,
    path: candidate.path,
    checksum: candidate.checksum,
    exportControlled: candidate.exportControlled,
  };
  if (decision.verdict === 'refuse') {
    return {
      ...base,
      action: 'refused',
      refusal: { code: decision.refusal, reason: decision.reason },
    };
  }
  const { endpoint, path, checksum } = decision.survivor;
  return {
    ...base,
    action: input.dryRun === true ? 'would-delete' : 'deleted',
    survivor: { endpoint, path, checksum },
  };
}
