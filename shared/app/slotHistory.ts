import { z } from 'zod';
import { BatonError, isBatonError } from '../domain/errors.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/stateStore.js';
import type { BackendSlotUse } from './appMetrics.js';
import { backoffAfterConflict, maxConflictRetries } from './conflictRetry.js';

/**
 * Slot use over time (the slots page): a timer (`sampleSlots`, BATON_SLOT_SAMPLE_SCHEDULE)
 * appends what each backend holds now, and the page reads the last hours back. Bounded by
 * construction: samples go into one document per hour (pk `slots`, id `YYYY-MM-DDTHH`), and
 * hours older than {@link slotHistoryHours} are deleted when a new hour's document is made, so
 * the collection never holds more than 25 documents of at most one sample per tick each.
 */
export const slotHistoryCollection = 'slotHistory';
export const slotHistoryHours = 24;
const partition = 'slots';

export interface SlotSample {
  /** ISO 8601 */
  at: string;
  backends: BackendSlotUse[];
}

interface SlotHour {
  hour: string;
  samples: SlotSample[];
}

function hourOf(at: Date): string {
  return at.toISOString().slice(0, 13);
}

/**
 * Appends one sample. Two hosts sampling at once both land: the hour's document is replaced
 * only if unchanged since it was read (else read again). Returns how many old hours went.
 */
export async function recordSlotSample(
  deps: { state: StateStore; clock: Clock },
  backends: readonly BackendSlotUse[],
): Promise<{ pruned: number }> {
  const now = deps.clock.now();
  const sample: SlotSample = { at: now.toISOString(), backends: [...backends] };
  const id = hourOf(now);
  for (let tries = 0; tries < maxConflictRetries; tries++) {
    if (tries > 0) await backoffAfterConflict(tries - 1);
    const existing = await deps.state.read<SlotHour>(slotHistoryCollection, partition, id);
    try {
      if (existing === undefined) {
        await deps.state.create<SlotHour>(slotHistoryCollection, {
          id,
          pk: partition,
          body: { hour: id, samples: [sample] },
        });
        return { pruned: await pruneSlotHistory(deps) };
      }
      await deps.state.replace<SlotHour>(
        slotHistoryCollection,
        {
          id,
          pk: partition,
          body: { ...existing.body, samples: [...existing.body.samples, sample] },
        },
        existing.etag,
      );
      return { pruned: 0 };
    } catch (error) {
      if (!isBatonError(error, 'conflict') && !isBatonError(error, 'precondition_failed')) {
        throw error;
      }
    }
  }
  throw new BatonError('unavailable', `slot history ${id}: too many concurrent writers`);
}

/** Deletes the hours that ended more than {@link slotHistoryHours} ago. */
export async function pruneSlotHistory(deps: { state: StateStore; clock: Clock }): Promise<number> {
  const oldest = hourOf(new Date(deps.clock.now().getTime() - slotHistoryHours * 3600_000));
  let pruned = 0;
  for (const doc of await deps.state.query<SlotHour>(slotHistoryCollection, { pk: partition })) {
    if (doc.id >= oldest) continue;
    await deps.state
      .delete(slotHistoryCollection, partition, doc.id)
      .then(() => (pruned += 1))
      .catch((error: unknown) => {
        if (!isBatonError(error, 'not_found')) throw error;
      });
  }
  return pruned;
}

export const slotHistoryQuerySchema = z.object({
  hours: z.coerce.number().min(0.01).max(slotHistoryHours).default(slotHistoryHours),
});

/** `GET /api/slots/history?hours=`: the samples of the last hours, oldest first. */
export async function slotHistory(
  deps: { state: StateStore; clock: Clock },
  query: unknown,
): Promise<{ hours: number; samples: SlotSample[] }> {
  const { hours } = parseInput(slotHistoryQuerySchema, query, 'query');
  const since = new Date(deps.clock.now().getTime() - hours * 3600_000).toISOString();
  const docs = await deps.state.query<SlotHour>(slotHistoryCollection, { pk: partition });
  const samples = docs
    .flatMap((d) => d.body.samples)
    .filter((s) => s.at >= since)
    .sort((a, b) => a.at.localeCompare(b.at));
  return { hours, samples };
}
