import { createHash } from 'node:crypto';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/stateStore.js';

/**
 * A file landed in the landing folder (blob-created in Azure, the watched folder locally): it
 * is recorded with its size and checksum, keyed by path, so a redelivery changes nothing and
 * flows that start from new files (the beamline dispatcher) have a ledger to start from.
 */
export interface LandedFile {
  path: string;
  size: number;
  md5: string;
  landedAt: string;
}

export const landedFilesCollection = 'landed-files';

export async function recordLandedFile(
  deps: { state: StateStore; clock: Clock },
  path: string,
  content: Uint8Array,
): Promise<LandedFile> {
  const md5 = createHash('md5').update(content).digest('hex');
  const id = createHash('sha256').update(path).digest('hex').slice(0, 32);
  const existing = await deps.state.read<LandedFile>(landedFilesCollection, 'landing', id);
  if (existing && existing.body.md5 === md5) return existing.body;
  const file: LandedFile = {
    path,
    size: content.byteLength,
    md5,
    landedAt: deps.clock.now().toISOString(),
  };
  await deps.state.upsert(landedFilesCollection, { id, pk: 'landing', body: file });
  return file;
}
