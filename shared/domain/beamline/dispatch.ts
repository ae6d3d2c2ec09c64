import { z } from 'zod';
import { BatonError } from '../errors.js';
import {
  endpointNamePattern,
  endpointPath,
  exportControlMatcher,
  findEndpoint,
  normalizeEndpointPath,
  parseWithFieldErrors,
  pathBelowRoot,
  type BeamlineConfig,
  type BeamlineEndpoint,
  type Catalogue,
  type DecisionSettings,
} from './config.js';

/**
 * The dispatcher's decision for one new file, as plain data: the flows only carry it out.
 * `planDispatch` validates the request against the config, decides export control, and lists
 * the new-file chain (hops, catalogue ingest, retention entries) and the HPC flows that run in
 * parallel after it. Pure.
 *
 * Rules chosen (where the seed is silent):
 * - `path` is the file's full path, written the way the config writes roots (relative `folder`
 *   roots stay relative). It names the endpoint whose root is its longest prefix; `endpoint`
 *   picks one explicitly when roots coincide (Globus collections with the same root path).
 * - A file is dispatched from `new_file.source` (the usual case) or from
 *   `new_file.destination` (re-dispatching a file already in beamline storage: no first hop).
 *   Files at any other endpoint are refused.
 * - A file is export-controlled when the request says so or a pattern of
 *   `export_control.paths` matches; a request's `exportControlled: false` cannot clear a match.
 * - Export-controlled data never goes to an off-site endpoint: no hop to one, no HPC flow whose
 *   site endpoint is off-site. Settings that would do so are skipped with a reason; an override
 *   that explicitly asks for it is refused ('forbidden').
 * - Overrides replace `send_to_nersc`, `nersc` and `alcf` for this request only. An override
 *   that turns on something not configured is a validation error, as is
 *   `send_to_nersc: true` while the new-file flow is off.
 * - Catalogue ingest is part of the new-file flow and runs for export-controlled files too
 *   (metadata, as in the seed).
 * - Retention entries cover every endpoint the file is at or copied to by the chain that has a
 *   `retention` days value (`export_control.retention` for export-controlled files when set).
 * - HPC flows run when enabled, even if this plan does not put the file where the flow reads
 *   it (it may be there from an earlier dispatch); the plan then carries a warning.
 */

export type HpcSite = 'nersc' | 'alcf';
export type DispatchStep = 'new_file' | 'send_to_nersc' | HpcSite | 'olcf';

/** A file at an endpoint; `path` is relative to the endpoint's root. */
export interface FileAtEndpoint {
  endpoint: string;
  path: string;
}

export interface TransferHop {
  from: string;
  to: string;
  /** Relative to both roots: a copy keeps its place below the root. */
  path: string;
}

export interface RetentionPlanEntry {
  endpoint: string;
  path: string;
  afterDays: number;
}

export interface HpcFlowPlan {
  site: HpcSite;
  /** The site's endpoint (`hpc.<site>.endpoint`). */
  endpoint: string;
  /** Where the flow reads the raw file. */
  input: FileAtEndpoint;
  /** The same, written the way the config writes roots (the reconstruction's `path` param). */
  inputPath: string;
}

export interface NewFilePlan {
  /** In order; each hop starts once the previous one has completed. */
  hops: TransferHop[];
  ingest: Catalogue['kind'];
  retention: RetentionPlanEntry[];
}

export interface DispatchPlan {
  file: FileAtEndpoint;
  exportControl: { controlled: boolean; reasons: string[] };
  /** The decision settings after this request's overrides. */
  settings: DecisionSettings;
  /** Null when `local_file_management` is off. Runs first. */
  newFile: NewFilePlan | null;
  /** Run in parallel once the new-file flow has completed. */
  hpcFlows: HpcFlowPlan[];
  skipped: Array<{ step: DispatchStep; reason: string }>;
  warnings: string[];
}

const optionalSwitch = z.boolean().optional();
export const dispatchRequestSchema = z.strictObject({
  path: z.string().min(1, 'must not be empty').max(4096, 'must be at most 4096 characters'),
  endpoint: z
    .string()
    .regex(endpointNamePattern, 'must be an endpoint name from the beamline config')
    .optional(),
  exportControlled: optionalSwitch,
  overrides: z
    .strictObject({ send_to_nersc: optionalSwitch, nersc: optionalSwitch, alcf: optionalSwitch })
    .optional(),
});
export type DispatchRequest = z.input<typeof dispatchRequestSchema>;

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}

function forbidden(field: string, why: string): BatonError {
  return new BatonError('forbidden', `${field}: ${why}`, { field });
}

/**
 * Validates a dispatch request (from the wire: `unknown` is accepted) and plans what runs.
 * Errors are BatonError('validation') naming the request field (`path`, `overrides.nersc`), or
 * 'forbidden' for an override that would send export-controlled data off-site.
 */
export function planDispatch(config: BeamlineConfig, request: unknown): DispatchPlan {
  const req = parseWithFieldErrors(dispatchRequestSchema, request, (field, message) =>
    invalid(field === '' ? 'request' : field, message),
  );
  const file = locateFile(config, req.path, req.endpoint);
  const { source, destination } = config.new_file;
  if (file.endpoint !== source && file.endpoint !== destination) {
    throw invalid(
      'path',
      `is in ${file.endpoint}; new files are dispatched from ${source} (or ${destination} to ` +
        're-dispatch one already in beamline storage)',
    );
  }

  const exportControl = decideExportControl(config, file.path, req.exportControlled);
  const controlled = exportControl.controlled;
  const overrides = req.overrides ?? {};
  const settings: DecisionSettings = {
    ...config.decision,
    send_to_nersc: overrides.send_to_nersc ?? config.decision.send_to_nersc,
    nersc: overrides.nersc ?? config.decision.nersc,
    alcf: overrides.alcf ?? config.decision.alcf,
  };
  const skipped: DispatchPlan['skipped'] = [];
  const warnings: string[] = [];
  const offLimits = (endpoint: BeamlineEndpoint): boolean => controlled && endpoint.offsite;

  // The new-file chain.
  let newFile: NewFilePlan | null = null;
  if (!settings.local_file_management) {
    skipped.push({ step: 'new_file', reason: 'decision.local_file_management is off' });
    if (overrides.send_to_nersc === true) {
      throw invalid(
        'overrides.send_to_nersc',
        'the new-file flow is off (decision.local_file_management), so nothing is sent',
      );
    }
  } else {
    const hops: TransferHop[] = [];
    if (file.endpoint === source) hops.push({ from: source, to: destination, path: file.path });
    const nerscName = config.new_file.nersc;
    const nersc = nerscName === undefined ? undefined : findEndpoint(config, nerscName);
    if (!settings.send_to_nersc) {
      skipped.push({ step: 'send_to_nersc', reason: 'send_to_nersc is off' });
    } else if (nersc === undefined) {
      throw invalid('overrides.send_to_nersc', 'new_file.nersc is not configured');
    } else if (offLimits(nersc)) {
      if (overrides.send_to_nersc === true) {
        throw forbidden(
          'overrides.send_to_nersc',
          `the file is export-controlled and ${nersc.name} is off-site`,
        );
      }
      skipped.push({
        step: 'send_to_nersc',
        reason: `export-controlled data is never sent off-site (${nersc.name})`,
      });
    } else {
      hops.push({ from: destination, to: nersc.name, path: file.path });
    }
    newFile = {
      hops,
      ingest: config.catalogue.kind,
      retention: retentionEntries(config, file, hops, controlled),
    };
  }

  // HPC flows, in parallel after the chain.
  const locations = new Set([file.endpoint, ...(newFile?.hops.map((h) => h.to) ?? [])]);
  const hpcFlows: HpcFlowPlan[] = [];
  const sites: Array<{ site: HpcSite; endpoint: string | undefined; readsFrom: string }> = [
    {
      site: 'nersc',
      endpoint: config.hpc.nersc?.endpoint,
      readsFrom: config.hpc.nersc?.endpoint ?? '',
    },
    { site: 'alcf', endpoint: config.hpc.alcf?.endpoint, readsFrom: destination },
  ];
  for (const { site, endpoint: siteEndpoint, readsFrom } of sites) {
    if (!settings[site]) {
      skipped.push({ step: site, reason: `decision.${site} is off` });
      continue;
    }
    const endpoint = siteEndpoint === undefined ? undefined : findEndpoint(config, siteEndpoint);
    if (endpoint === undefined) {
      throw invalid(`overrides.${site}`, `hpc.${site} is not configured`);
    }
    if (offLimits(endpoint)) {
      if (overrides[site] === true) {
        throw forbidden(
          `overrides.${site}`,
          `the file is export-controlled and ${endpoint.name} is off-site`,
        );
      }
      skipped.push({
        step: site,
        reason: `export-controlled data is never sent off-site (${endpoint.name})`,
      });
      continue;
    }
    if (!locations.has(readsFrom)) {
      warnings.push(
        `${site}: this plan does not put the file at ${readsFrom}, where the flow reads it; ` +
          'it must be there already',
      );
    }
    const reads = findEndpoint(config, readsFrom);
    hpcFlows.push({
      site,
      endpoint: endpoint.name,
      input: { endpoint: readsFrom, path: file.path },
      inputPath: reads === undefined ? file.path : endpointPath(reads, file.path),
    });
  }
  if (settings.olcf) skipped.push({ step: 'olcf', reason: 'OLCF is not implemented' });

  return { file, exportControl, settings, newFile, hpcFlows, skipped, warnings };
}

/**
 * Finds the endpoint a full path is in (the longest root that contains it, or `endpointName`'s)
 * and the path below its root. The path must name something inside the root, not the root.
 */
export function locateFile(
  config: BeamlineConfig,
  path: string,
  endpointName?: string,
): FileAtEndpoint {
  const normalized = normalizeEndpointPath(path, 'path');
  if (endpointName !== undefined) {
    const endpoint = findEndpoint(config, endpointName);
    if (endpoint === undefined) {
      throw invalid('endpoint', `"${endpointName}" is not one of the beamline's endpoints`);
    }
    const relative = pathBelowRoot(endpoint.root, normalized);
    if (relative === null)
      throw invalid('path', `is not inside ${endpoint.name} (${endpoint.root})`);
    if (relative === '')
      throw invalid('path', `is the root of ${endpoint.name}; name a file in it`);
    return { endpoint: endpoint.name, path: relative };
  }
  let best: Array<{ endpoint: BeamlineEndpoint; relative: string }> = [];
  for (const endpoint of Object.values(config.endpoints)) {
    const relative = pathBelowRoot(endpoint.root, normalized);
    if (relative === null) continue;
    const bestRoot = best[0]?.endpoint.root.length ?? -1;
    if (endpoint.root.length > bestRoot) best = [{ endpoint, relative }];
    else if (endpoint.root.length === bestRoot) best.push({ endpoint, relative });
  }
  const [match, second] = best;
  if (match === undefined) {
    const roots = Object.values(config.endpoints).map((e) => `${e.name} (${e.root})`);
    throw invalid('path', `is not inside any endpoint's root: ${roots.join(', ')}`);
  }
  if (second !== undefined) {
    throw invalid(
      'path',
      `is inside ${best.map((b) => b.endpoint.name).join(' and ')} alike; name one with endpoint`,
    );
  }
  if (match.relative === '') {
    throw invalid('path', `is the root of ${match.endpoint.name}; name a file in it`);
  }
  return { endpoint: match.endpoint.name, path: match.relative };
}

/** The request's flag or a matching `export_control.paths` pattern, with the reasons. */
export function decideExportControl(
  config: BeamlineConfig,
  relativePath: string,
  flagged: boolean | undefined,
): { controlled: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (flagged === true) reasons.push('the request marks it export-controlled');
  const matched = exportControlMatcher(config.export_control.paths)(relativePath);
  for (const pattern of matched) reasons.push(`export_control.paths matches "${pattern}"`);
  if (flagged === false && matched.length > 0) {
    reasons.push('the request said it is not, but a config pattern cannot be overridden');
  }
  return { controlled: flagged === true || matched.length > 0, reasons };
}

function retentionEntries(
  config: BeamlineConfig,
  file: FileAtEndpoint,
  hops: readonly TransferHop[],
  controlled: boolean,
): RetentionPlanEntry[] {
  const days =
    controlled && config.export_control.retention !== undefined
      ? config.export_control.retention
      : config.retention;
  const endpoints = [...new Set([file.endpoint, ...hops.map((h) => h.to)])];
  const entries: RetentionPlanEntry[] = [];
  for (const endpoint of endpoints) {
    const afterDays = Object.hasOwn(days, endpoint) ? days[endpoint] : undefined;
    if (afterDays === undefined || findEndpoint(config, endpoint)?.home !== false) continue;
    entries.push({ endpoint, path: file.path, afterDays });
  }
  return entries;
}
