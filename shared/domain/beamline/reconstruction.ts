import path from 'node:path';
import { BatonError } from '../errors.js';
import { findEndpoint, type BeamlineConfig } from './config.js';
import type { FileAtEndpoint, HpcSite, TransferHop } from './dispatch.js';

/**
 * What a reconstruction at an HPC site does with one raw file, as plain data (seed 001's
 * `nersc_recon_flow` and `alcf_recon_flow`). Pure.
 *
 * Rules chosen (where the seed is silent):
 * - The raw file is read where it is named; when that is not the site's endpoint it is copied
 *   there first. The dispatcher names NERSC's copy at `hpc.nersc.endpoint` (where
 *   `send_to_nersc` put it: no copy) and ALCF's at beamline storage (copied to
 *   `hpc.alcf.endpoint`).
 * - The site writes the TIFF slices to `rec_<stem>/` and the multi-resolution (Zarr) pyramid
 *   to `rec_<stem>.zarr/` beside the raw file's relative path, at the site's `scratch`
 *   endpoint; both are copied back to beamline storage at the same relative paths (so a
 *   scratch copy's surviving copy is found there by the verified pruner).
 * - Retention: the scratch outputs after `retention.<scratch>` days and the site's raw copy
 *   after `retention.<site endpoint>` days, when those are set (the home is never pruned).
 *   Outputs are folders; entries are written per file when the flow records them.
 */
export interface RetentionRule {
  endpoint: string;
  /** A file, or a folder whose files each get an entry. */
  path: string;
  folder: boolean;
  afterDays: number;
}

export interface ReconstructionPlan {
  site: HpcSite;
  siteEndpoint: string;
  scratch: string;
  /** Where the raw file is read (as named: the dispatcher names beamline storage for ALCF, the home for NERSC). */
  raw: FileAtEndpoint;
  /** The copy to the site before reconstruction (ALCF); null when the raw file is there. */
  stage: TransferHop | null;
  /** The raw file at the site. */
  siteRaw: FileAtEndpoint;
  /** Output folders at the scratch endpoint. */
  tiff: FileAtEndpoint;
  zarr: FileAtEndpoint;
  /** Scratch → beamline storage, TIFF then Zarr (recursive). */
  back: TransferHop[];
  retention: RetentionRule[];
}

export function planReconstruction(
  config: BeamlineConfig,
  site: HpcSite,
  file: FileAtEndpoint,
): ReconstructionPlan {
  const settings = config.hpc[site];
  if (settings === undefined) {
    throw new BatonError('validation', `hpc.${site}: HPC site "${site}" is not configured`, {
      field: `hpc.${site}`,
    });
  }
  if (settings.scratch === undefined) {
    throw new BatonError(
      'validation',
      `hpc.${site}.scratch: required to reconstruct (where the site writes its outputs)`,
      { field: `hpc.${site}.scratch` },
    );
  }
  const destination = config.new_file.destination;
  const siteEndpoint = settings.endpoint;
  const raw: FileAtEndpoint = { endpoint: file.endpoint, path: file.path };
  const stage: TransferHop | null =
    raw.endpoint === siteEndpoint
      ? null
      : { from: raw.endpoint, to: siteEndpoint, path: file.path };
  const { dir, name } = path.posix.parse(file.path);
  const outputBase = path.posix.join(dir, `rec_${name}`);
  const tiff = { endpoint: settings.scratch, path: outputBase };
  const zarr = { endpoint: settings.scratch, path: `${outputBase}.zarr` };
  const back: TransferHop[] = [tiff, zarr].map((output) => ({
    from: settings.scratch ?? '',
    to: destination,
    path: output.path,
  }));
  const retention: RetentionRule[] = [];
  const daysAt = (endpoint: string): number | undefined =>
    Object.hasOwn(config.retention, endpoint) && findEndpoint(config, endpoint)?.home === false
      ? config.retention[endpoint]
      : undefined;
  const scratchDays = daysAt(settings.scratch);
  if (scratchDays !== undefined) {
    retention.push({ ...tiff, folder: true, afterDays: scratchDays });
    retention.push({ ...zarr, folder: true, afterDays: scratchDays });
  }
  const rawDays = daysAt(siteEndpoint);
  if (rawDays !== undefined) {
    retention.push({ endpoint: siteEndpoint, path: file.path, folder: false, afterDays: rawDays });
  }
  return {
    site,
    siteEndpoint,
    scratch: settings.scratch,
    raw,
    stage,
    siteRaw: { endpoint: siteEndpoint, path: file.path },
    tiff,
    zarr,
    back,
    retention,
  };
}
