import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { endpointPath } from '../domain/beamline/config.js';
import { planDispatch, type DispatchPlan } from '../domain/beamline/dispatch.js';
import type { PruneAuditRecord } from '../domain/beamline/pruneSafety.js';
import { isBatonError, notFound } from '../domain/errors.js';
import { dueAtFor, retentionIdFor } from '../domain/retention.js';
import { runIdSchema } from '../domain/runIds.js';
import { parseInput } from '../domain/validation.js';
import type { Catalogue } from '../ports/catalogue.js';
import type { Clock } from '../ports/clock.js';
import type { ComputeBackend } from '../ports/compute.js';
import type { StateStore } from '../ports/stateStore.js';
import type { TransferRequest, TransferStatus } from '../ports/transfers.js';
import {
  beamlineParamsSchema,
  beamlineTransferId,
  type CatalogueResult,
  type HopResult,
  type RetentionResult,
  type StartTransferInput,
} from '../orchestrations/beamlineTypes.js';
import { outcomeOfState, recordPastSpan, spanAttributes, spanNames } from '../telemetry/tracing.js';
import { recordTransfer } from './transferRecords.js';
import {
  assertFolderEndpoint,
  beamlineServicesFor,
  loadBeamlineConfig,
  type LoadedBeamlineConfig,
} from './beamlineServices.js';

/**
 * Activities of the beamline flows (seed 001), as closures over the ports. Each reads the config
 * named by the run's params again (activities pass references, not the parsed config) and is
 * idempotent: transfer ids derive from run and hop, catalogue records from the file's content,
 * retention entries from endpoint and path.
 */
export interface BeamlineDeps {
  state: StateStore;
  clock: Clock;
  /** Configs must resolve inside it (BATON_MODEL_SOURCES_ROOT). */
  sourcesRoot: string;
  /** The folder lake's root, where `lake` endpoints are; undefined when the lake is ADLS. */
  lakeFolder?: string | undefined;
  /** Runs a site's scripts when the config says they run here; undefined on ACI. */
  localCompute?: ComputeBackend | undefined;
  /** HPC access tokens, read from the environment variables the settings name; never logged. */
  hpcTokens?: { nersc?: string | undefined; alcf?: string | undefined };
}

/**
 * Retention entries of beamline copies. Not the app's `retention` ledger: that one holds lake
 * paths only (`endpoint: 'lake'`) and its pruner deletes them without a surviving-copy check, so
 * a beamline path there would be deleted from the lake. Entries here are pruned by the verified
 * beamline pruner (`pruneBeamline` in beamlinePrune.ts, through decidePrune).
 */
export const beamlineRetentionCollection = 'beamlineRetention';

export interface BeamlineRetentionEntry {
  beamline: string;
  endpoint: string;
  /** Relative to the endpoint's root. */
  path: string;
  checksum: string;
  exportControlled: boolean;
  afterDays: number;
  scheduledAt: string;
  dueAt: string;
  reason: string;
  runId: string;
  /**
   * `scheduled` until due; `refused` when the pruner could not prove a surviving copy (kept and
   * tried again in the next pass); `pruned` once deleted; `gone` when the file was already absent.
   */
  state: BeamlineRetentionState;
  /** The pruner's last verdict on this copy (deleted or refused, and why). */
  audit?: PruneAuditRecord;
  prunedAt?: string;
  attempts?: number;
  lastError?: string;
}

export type BeamlineRetentionState = 'scheduled' | 'refused' | 'pruned' | 'gone';

const planInputSchema = z.object({ runId: runIdSchema, params: z.unknown() });
const configured = z.object({ runId: runIdSchema, config: z.string().min(1) });
const hopInputSchema = configured.extend({
  hopIndex: z.number().int().min(0),
  hop: z.object({ from: z.string(), to: z.string(), path: z.string() }),
  flow: z.enum(['new_file', 'test_transfers', 'nersc', 'alcf']).optional(),
  recursive: z.boolean().optional(),
});
const planned = configured.extend({ plan: z.custom<DispatchPlan>((v) => typeof v === 'object') });
const retentionInputSchema = planned.extend({ checksum: z.string() });

/** Reads the config and plans the dispatch; a user mistake is a `validation` error naming it. */
export async function planBeamlineDispatch(
  deps: BeamlineDeps,
  input: unknown,
): Promise<DispatchPlan> {
  const { params: raw } = parseInput(planInputSchema, input, 'input');
  const params = parseInput(beamlineParamsSchema, raw, 'params');
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, params.config);
  return planDispatch(loaded.config, {
    path: params.path,
    ...(params.endpoint === undefined ? {} : { endpoint: params.endpoint }),
    ...(params.exportControlled === undefined ? {} : { exportControlled: params.exportControlled }),
    ...(params.overrides === undefined ? {} : { overrides: params.overrides }),
  });
}

/** Submits a hop (idempotent by its transfer id) and reports where it is. */
export async function startTransfer(deps: BeamlineDeps, input: unknown): Promise<HopResult> {
  const hop = parseInput(hopInputSchema, input, 'input');
  const { loaded, request } = await transferOf(deps, hop);
  const { transfers } = beamlineServicesFor(loaded, deps);
  return recordIfEnded(deps, loaded, hop, hopResultOf(hop, await transfers.submit(request)));
}

/**
 * Where a hop is now. A transfer the service no longer knows (the host restarted) is submitted
 * again under the same id: a folder copy is atomic, so it starts over cleanly.
 */
export async function transferStatus(deps: BeamlineDeps, input: unknown): Promise<HopResult> {
  const hop = parseInput(hopInputSchema, input, 'input');
  const { loaded, request } = await transferOf(deps, hop);
  const { transfers } = beamlineServicesFor(loaded, deps);
  let status: TransferStatus;
  try {
    status = await transfers.status(request.transferId);
  } catch (error) {
    if (!isBatonError(error, 'not_found')) throw error;
    status = await transfers.submit(request);
  }
  return recordIfEnded(deps, loaded, hop, hopResultOf(hop, status));
}

export async function cancelTransfer(deps: BeamlineDeps, input: unknown): Promise<HopResult> {
  const hop = parseInput(hopInputSchema, input, 'input');
  const { loaded, request } = await transferOf(deps, hop);
  const { transfers } = beamlineServicesFor(loaded, deps);
  return recordIfEnded(
    deps,
    loaded,
    hop,
    hopResultOf(hop, await transfers.cancel(request.transferId)),
  );
}

/** Activity: records a hop's end the orchestrator decided (not started, timed out). */
export async function recordTransferResult(deps: BeamlineDeps, input: unknown): Promise<void> {
  const { result, ...hopInput } = parseInput(
    hopInputSchema.extend({
      result: z.custom<HopResult>((v) => typeof v === 'object' && v !== null),
    }),
    input,
    'input',
  );
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, hopInput.config);
  await recordIfEnded(deps, loaded, hopInput, result);
}

/** A hop that ended is recorded for `baton status` and the metrics (see transferRecords.ts). */
async function recordIfEnded(
  deps: BeamlineDeps,
  loaded: LoadedBeamlineConfig,
  hop: z.infer<typeof hopInputSchema>,
  result: HopResult,
): Promise<HopResult> {
  if (result.state === 'active') return result;
  const now = deps.clock.now();
  recordPastSpan({
    name: spanNames.transfer,
    parent: { runId: hop.runId },
    start: now.getTime() - result.durationMs,
    end: now,
    attributes: {
      [spanAttributes.runId]: hop.runId,
      [spanAttributes.transferId]: result.transferId,
      [spanAttributes.transferFrom]: result.from,
      [spanAttributes.transferTo]: result.to,
      [spanAttributes.transferState]: result.state,
      [spanAttributes.transferBytes]: result.bytes,
      [spanAttributes.transferFiles]: result.files,
    },
    outcome: outcomeOfState('transfer', result.state, result.reason),
  });
  await recordTransfer(deps.state, {
    ...result,
    runId: hop.runId,
    beamline: loaded.config.beamline,
    flow: hop.flow ?? 'new_file',
    endedAt: deps.clock.now().toISOString(),
  });
  return result;
}

/**
 * Catalogues the file where the chain left it (the destination, beamline storage): metadata
 * extracted from the file itself (name, extension, size, sha256, mtime), one dataset whose id
 * derives from the file's checksum, so a redelivered ingest finds its record.
 */
export async function ingestBeamlineFile(
  deps: BeamlineDeps,
  input: unknown,
): Promise<CatalogueResult> {
  const { runId, config, plan } = parseInput(planned, input, 'input');
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, config);
  const endpointName = loaded.config.new_file.destination;
  assertFolderEndpoint(loaded, endpointName, deps.lakeFolder);
  const { transfers, catalogue, folderRoots } = beamlineServicesFor(loaded, deps);
  const relative = plan.file.path;
  const stat = await transfers.stat(endpointName, relative);
  const root = folderRoots[endpointName];
  if (stat === undefined || root === undefined) {
    throw notFound(`${relative} at ${endpointName}`);
  }
  const info = await lstat(path.join(root, ...relative.split('/')));
  const name = path.posix.basename(relative);
  const sha256 = stat.checksum.replace(/^sha256:/, '');
  const metadata: Record<string, string | number | boolean> = {
    fileName: name,
    extension: path.posix.extname(name).replace(/^\./, '').toLowerCase(),
    sizeBytes: stat.size,
    sha256,
    mtime: info.mtime.toISOString(),
    endpoint: endpointName,
    path: relative,
    exportControlled: plan.exportControl.controlled,
    runId,
  };
  const datasetId = `${loaded.config.beamline}/${sha256.slice(0, 32)}`;
  const { id, created } = await catalogue.ingest({
    datasetId,
    name,
    owner: loaded.config.beamline,
    sourceFolder: endpointPath(
      loaded.config.endpoints[endpointName] ?? { root: '' },
      path.posix.dirname(relative) === '.' ? '' : path.posix.dirname(relative),
    ),
    metadata,
    files: [{ path: relative, size: stat.size, checksum: stat.checksum }],
    creationTime: deps.clock.now().toISOString(),
  });
  return {
    ok: true,
    datasetId: id,
    created: created || (await recordMadeByRun(catalogue, id, runId)),
    metadata,
  };
}

/**
 * `created` in a run's output means "this run's ingest made the record", not "this call did":
 * a retried ingest (the host killed after the record was written, or a create whose answer was
 * lost) finds the record its own run made and must report what an uninterrupted run reports.
 * A file identical to one an earlier run catalogued still reports `created: false`.
 */
async function recordMadeByRun(
  catalogue: Catalogue,
  datasetId: string,
  runId: string,
): Promise<boolean> {
  const existing = await catalogue.get(datasetId);
  return existing.metadata['runId'] === runId;
}

/** Records the plan's retention entries (see beamlineRetentionCollection for why not the ledger). */
export async function recordBeamlineRetention(
  deps: BeamlineDeps,
  input: unknown,
): Promise<RetentionResult> {
  const { runId, config, plan, checksum } = parseInput(retentionInputSchema, input, 'input');
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, config);
  const now = deps.clock.now();
  const entries: RetentionResult['entries'] = [];
  for (const entry of plan.newFile?.retention ?? []) {
    const body: BeamlineRetentionEntry = {
      beamline: loaded.config.beamline,
      endpoint: entry.endpoint,
      path: entry.path,
      checksum: checksum === '' ? '' : `sha256:${checksum}`,
      exportControlled: plan.exportControl.controlled,
      afterDays: entry.afterDays,
      scheduledAt: now.toISOString(),
      dueAt: dueAtFor(now, entry.afterDays),
      reason: `beamline ${loaded.config.beamline}: new file, retention.${entry.endpoint}`,
      runId,
      state: 'scheduled',
    };
    await deps.state.upsert(beamlineRetentionCollection, {
      id: retentionIdFor(`${loaded.config.beamline}:${entry.endpoint}`, entry.path),
      pk: entry.endpoint,
      body,
    });
    entries.push({
      endpoint: entry.endpoint,
      path: entry.path,
      afterDays: entry.afterDays,
      dueAt: body.dueAt,
    });
  }
  return { collection: beamlineRetentionCollection, entries };
}

// ---------------------------------------------------------------------------------------------

async function transferOf(
  deps: BeamlineDeps,
  hop: z.infer<typeof hopInputSchema>,
): Promise<{ loaded: LoadedBeamlineConfig; request: TransferRequest }> {
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, hop.config);
  assertFolderEndpoint(loaded, hop.hop.from, deps.lakeFolder);
  assertFolderEndpoint(loaded, hop.hop.to, deps.lakeFolder);
  return {
    loaded,
    request: {
      transferId: beamlineTransferId(hop.runId, hop.hopIndex, hop.flow),
      source: { endpoint: hop.hop.from, path: hop.hop.path },
      destination: { endpoint: hop.hop.to, path: hop.hop.path },
      ...(hop.recursive === true ? { recursive: true } : {}),
      label: `${loaded.config.beamline} ${hop.hop.from} to ${hop.hop.to}`,
    },
  };
}

/** A transfer's status as a hop's result; a success without verified checksums is a failure. */
export function hopResultOf(input: StartTransferInput, status: TransferStatus): HopResult {
  const started = status.startedAt === undefined ? NaN : Date.parse(status.startedAt);
  const finished = status.finishedAt === undefined ? NaN : Date.parse(status.finishedAt);
  const durationMs =
    Number.isFinite(started) && Number.isFinite(finished) ? Math.max(0, finished - started) : 0;
  const result: HopResult = {
    from: input.hop.from,
    to: input.hop.to,
    path: input.hop.path,
    transferId: status.transferId,
    state: status.state,
    files: status.files,
    bytes: status.bytes,
    durationMs,
    rate: durationMs > 0 ? Math.round((status.bytes * 1000) / durationMs) : 0,
    checksumVerified: status.checksumVerified,
  };
  if (status.state === 'succeeded' && !status.checksumVerified) {
    result.state = 'failed';
    result.reason = 'the transfer ended without verified checksums';
  } else if (status.reason !== undefined) {
    result.reason = status.reason;
  }
  return result;
}
