import { createHash } from 'node:crypto';
import { findEndpoint, pathBelowRoot } from '../domain/beamline/config.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { newRunId } from '../domain/runIds.js';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/stateStore.js';
import { transferProbeFolder } from './beamlineProbe.js';
import { loadBeamlineConfig, type LoadedBeamlineConfig } from './beamlineServices.js';
import { landingIdentity } from './identity.js';
import { findPipeline } from './pipelines.js';
import { startRun, type RunDeps } from './runs.js';

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
  const file: LandedFile = {
    path,
    size: content.byteLength,
    md5,
    landedAt: deps.clock.now().toISOString(),
  };
  // Concurrent deliveries of the same landing agree on one document (and so on one landedAt,
  // which the dispatcher's run id derives from): the first write wins, the others read it.
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await deps.state.read<LandedFile>(landedFilesCollection, 'landing', id);
    if (existing && existing.body.md5 === md5) return existing.body;
    try {
      if (existing === undefined) {
        await deps.state.create(landedFilesCollection, { id, pk: 'landing', body: file });
      } else {
        await deps.state.replace(
          landedFilesCollection,
          { id, pk: 'landing', body: file },
          existing.etag,
        );
      }
      return file;
    } catch (error) {
      if (!isBatonError(error, 'conflict') && !isBatonError(error, 'precondition_failed')) {
        throw error;
      }
    }
  }
  throw new BatonError('conflict', `landing ${path}: the ledger entry keeps changing`);
}

/**
 * Starts the beamline dispatcher for a landed file when a beamline config (one of
 * BATON_BEAMLINE_CONFIGS) has its new-file source at a lake endpoint whose root contains the
 * file: the landing folder is where the detector's files arrive. The run id derives from the
 * landing (time and checksum), so a redelivered trigger finds its run instead of starting a
 * second one; a run recorded but never started (a crash in between) is started then.
 * Returns the run id, or undefined when no config claims the file.
 */
export interface LandingDispatchDeps {
  runs: RunDeps;
  sourcesRoot: string;
  /** BATON_BEAMLINE_CONFIGS, split. */
  configs: string[];
}

export async function dispatchLandedFile(
  deps: LandingDispatchDeps,
  file: LandedFile,
): Promise<{ runId: string; config: string; started: boolean } | undefined> {
  const lakePath = file.path.replace(/^\/+/, '');
  const unreadable: string[] = [];
  for (const configParam of deps.configs) {
    // One broken config (moved, invalid) must not stop other beamlines' files.
    let loaded: LoadedBeamlineConfig;
    try {
      loaded = await loadBeamlineConfig(deps.sourcesRoot, configParam);
    } catch (error) {
      unreadable.push(`${configParam}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const source = findEndpoint(loaded.config, loaded.config.new_file.source);
    if (source?.kind !== 'lake') continue;
    const relative = pathBelowRoot(source.root.replace(/^\/+/, ''), lakePath);
    if (relative === null || relative === '') continue;
    // The test-transfers flow's probes land here too; they are not detector files.
    if (relative.startsWith(`${transferProbeFolder}/`)) return undefined;
    const landing = createHash('sha256').update(`${lakePath}\n${file.md5}`).digest('hex');
    const runId = newRunId('beamline', new Date(file.landedAt), landing);
    const body = {
      pipeline: 'beamline',
      runId,
      params: { config: configParam, path: lakePath, endpoint: source.name },
    };
    try {
      await startRun(deps.runs, body, landingIdentity);
      return { runId, config: configParam, started: true };
    } catch (error) {
      if (!isBatonError(error, 'conflict')) throw error;
      if ((await deps.runs.client.getStatus(runId)) !== undefined) {
        return { runId, config: configParam, started: false };
      }
      await deps.runs.client.start(findPipeline('beamline').orchestrator, {
        instanceId: runId,
        input: { runId, params: body.params },
      });
      return { runId, config: configParam, started: true };
    }
  }
  if (unreadable.length > 0) {
    // The file may be one of theirs: fail the delivery (it is retried) naming them.
    throw new BatonError(
      'precondition_failed',
      `${file.path}: no readable beamline config claims it; unreadable: ${unreadable.join('; ')}`,
    );
  }
  return undefined;
}

export { landingIdentity };
