import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/stateStore.js';

/**
 * Provenance of a model run's outputs: for each archive a step builds into `outputs/`, which
 * run, iteration and step built it, from which jobs (each job record names its command and
 * attempt), its SHA-256 and size, and when. Recorded where the archive is built
 * (`finishModelStep`), because nothing else knows all of it at once: the sync's manifest has
 * hashes but no step, the state file has steps but no files.
 *
 * One document per output file (pk: databank, id: the archive's name, which is unique in
 * `outputs/` as `{step}_{archive}_iter{n}.zip`): a later run that rebuilds the same file
 * replaces its record, because the file on disk is then that run's.
 */
export const modelOutputsCollection = 'modelOutputs';

export interface ModelOutputRecord {
  databank: string;
  runId: string;
  iteration: number;
  step: string;
  /** Databank-relative POSIX path. */
  path: string;
  sha256: string;
  size: number;
  /** ISO 8601 */
  builtAt: string;
  /** The compute jobs of the step's commands (every attempt), in order. */
  jobIds: string[];
}

export async function recordModelOutputs(
  deps: { state: StateStore; clock: Clock },
  input: {
    databank: string;
    databankDir: string;
    runId: string;
    iteration: number;
    step: string;
    jobIds: readonly string[];
    /** Databank-relative paths of the files built. */
    paths: readonly string[];
  },
): Promise<void> {
  for (const relative of input.paths) {
    const file = path.join(input.databankDir, ...relative.split('/'));
    const info = await lstat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    const record: ModelOutputRecord = {
      databank: input.databank,
      runId: input.runId,
      iteration: input.iteration,
      step: input.step,
      path: relative,
      sha256: await sha256Of(file),
      size: info.size,
      builtAt: deps.clock.now().toISOString(),
      jobIds: [...input.jobIds],
    };
    await deps.state.upsert(modelOutputsCollection, {
      id: path.posix.basename(relative),
      pk: input.databank,
      body: record,
    });
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
