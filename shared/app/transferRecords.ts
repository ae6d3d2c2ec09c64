import type { HopResult } from '../orchestrations/beamlineTypes.js';
import type { StateStore } from '../ports/stateStore.js';

/**
 * One document per transfer a beamline flow ran to its end (succeeded, failed, canceled, timed
 * out or not started): what `baton status` lists per run and what the metrics endpoint
 * aggregates (bytes, files, duration, rate, result per beamline and hop). Written when the hop
 * ends, keyed by transfer id, so a replayed activity rewrites the same document.
 */
export const transferRecordsCollection = 'beamlineTransfers';

export interface TransferRecord extends HopResult {
  /** The run whose flow ran the hop (the dispatcher's run id for sub-orchestrations too). */
  runId: string;
  beamline: string;
  /** Which flow: `new_file`, `test_transfers`, `nersc`, `alcf`. */
  flow: string;
  /** ISO 8601: when the hop's end was recorded. */
  endedAt: string;
}

export async function recordTransfer(
  state: StateStore,
  record: TransferRecord,
): Promise<TransferRecord> {
  await state.upsert(transferRecordsCollection, {
    id: record.transferId,
    pk: record.runId,
    body: record,
  });
  return record;
}

/** The transfers of one run, in the order they ended. */
export async function transfersOfRun(state: StateStore, runId: string): Promise<TransferRecord[]> {
  const docs = await state.query<TransferRecord>(transferRecordsCollection, { pk: runId });
  return docs
    .map((d) => d.body)
    .sort((a, b) => a.endedAt.localeCompare(b.endedAt) || a.transferId.localeCompare(b.transferId));
}
