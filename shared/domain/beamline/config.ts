import { configError, configErrorMap, parseYamlConfig } from '../yamlConfig.js';
import picomatch from 'picomatch';
import { z } from 'zod';
import { BatonError } from '../errors.js';
import { formatIssuePath } from '../validation.js';

/**
 * The beamline configuration (`beamline.yaml`): where a beamline's files live (endpoints), the
 * HPC sites and catalogue its flows use, which flows run (decision settings), how long copies
 * are kept, and which data is export-controlled. Pure: the caller reads the file and hands over
 * its text; errors are BatonError('validation') reading `<file>: <field path>: <why>`.
 *
 * Rules chosen (where the seed is silent):
 * - Field names stay exactly as in the YAML (snake_case), so an error names what the user wrote.
 * - Unknown keys are errors, not warnings: a typo in a safety setting (`hom: true`,
 *   `ofsite: false`) must not pass silently.
 * - Every endpoint says `offsite` explicitly (no default), and exactly one endpoint is the raw
 *   data's `home`, which is never pruned and so has no `retention` entry.
 * - `new_file` names the roles the seed hard-codes: `source` (spot832, where the detector
 *   writes), `destination` (data832, beamline storage) and `nersc` (nersc832, where
 *   `send_to_nersc` copies raw data). Source and destination must be on-site, since every new
 *   file, export-controlled or not, goes there.
 * - Roots are POSIX paths, absolute or relative (a `folder` root is relative to the config
 *   file's folder, resolved by the caller), never containing `..`. Two endpoints of the same
 *   kind (and, for Globus, the same collection) may not share a root.
 * - `export_control.paths` are globs matched case-insensitively against a file's path relative
 *   to its endpoint's root (matching too much is the safe direction). `export_control.retention`,
 *   when given, replaces `retention` for export-controlled files: their own pruning rule.
 * - `hpc.olcf` is accepted as an opaque mapping (the seed lists it, unimplemented); the
 *   dispatcher reports it as not implemented when `decision.olcf` is on.
 */

export const endpointKinds = ['lake', 'globus', 'folder'] as const;
export type EndpointKind = (typeof endpointKinds)[number];

export const endpointNamePattern = /^[a-z][a-z0-9_-]{0,62}$/;
const endpointNameMessage =
  'endpoint names are lower-case letters, digits, "_" and "-", starting with a letter (at most 63)';
export const maxRetentionDays = 3650;

export interface BeamlineEndpoint {
  name: string;
  kind: EndpointKind;
  /** Normalised POSIX path: no `.`/`..` segments, no trailing `/`; `/` only for Globus. */
  root: string;
  /** Globus collection id (kind `globus` only). */
  collection: string | undefined;
  /** The raw data's home: its copies are never pruned. */
  home: boolean;
  /** Off-site endpoints never receive export-controlled data. */
  offsite: boolean;
}

/**
 * A site's scripts run as processes on this machine instead of through the site's service
 * (the one-machine example, a site's own login node): argv templates where `{input}` and
 * `{output}` become the job's folders and `{config_dir}` the config file's folder.
 */
export interface LocalSiteRunner {
  reconstruct: string[];
  multi_resolution: string[];
  /** Seconds a script may run (default: the reconstruction flow's HPC timeout). */
  timeout_seconds: number | undefined;
}

interface SiteCommon {
  /**
   * Where the site writes reconstructions (TIFF slices, the Zarr pyramid) before they are
   * copied back to beamline storage; retention applies there. Required to reconstruct.
   */
  scratch?: string | undefined;
  local?: LocalSiteRunner | undefined;
}

export interface NerscSite extends SiteCommon {
  /** The endpoint the NERSC flow reads raw data from. */
  endpoint: string;
  superfacility_url: string;
  account: string;
  /** A key of `images`. */
  image: string;
}

export interface AlcfSite extends SiteCommon {
  /** The endpoint the ALCF flow copies raw data to before reconstruction. */
  endpoint: string;
  globus_compute_endpoint: string;
  function_id: string;
}

export type Catalogue = { kind: 'scicat'; url: string } | { kind: 'local' };

export interface DecisionSettings {
  /** The new-file flow: spot → data (→ NERSC), catalogue ingest, retention entries. */
  local_file_management: boolean;
  nersc: boolean;
  alcf: boolean;
  olcf: boolean;
  send_to_nersc: boolean;
}

export interface BeamlineConfig {
  beamline: string;
  endpoints: Record<string, BeamlineEndpoint>;
  new_file: { source: string; destination: string; nersc: string | undefined };
  hpc: {
    nersc: NerscSite | undefined;
    alcf: AlcfSite | undefined;
    olcf: Record<string, unknown> | undefined;
  };
  catalogue: Catalogue;
  images: Record<string, string>;
  decision: DecisionSettings;
  /** Days after which a copy at the endpoint is pruned; endpoints not listed keep copies. */
  retention: Record<string, number>;
  export_control: {
    paths: string[];
    /** Replaces `retention` for export-controlled files when set. */
    retention: Record<string, number> | undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Schema

const text = z.string().trim().min(1, 'must not be empty');
const endpointName = z.string().regex(endpointNamePattern, endpointNameMessage);
const uuid = z.guid('must be a UUID');
const days = z
  .number()
  .min(0, 'must be a number of days from 0')
  .max(maxRetentionDays, `must be at most ${maxRetentionDays} days`);

const endpointSchema = z.strictObject({
  kind: z.enum(endpointKinds, { error: `must be one of ${endpointKinds.join(', ')}` }),
  root: text.max(1024, 'must be at most 1024 characters'),
  collection: uuid.optional(),
  home: z.boolean().optional(),
  offsite: z.boolean(),
});

const argvTemplate = z
  .array(text.max(1000))
  .min(1, 'must list the program and its arguments')
  .max(100, 'must have at most 100 arguments');
const localRunnerSchema = z.strictObject({
  reconstruct: argvTemplate,
  multi_resolution: argvTemplate,
  timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional(),
});
const siteCommon = {
  scratch: endpointName.optional(),
  local: localRunnerSchema.optional(),
};

const configSchema = z.strictObject({
  beamline: text.max(100),
  endpoints: z.record(endpointName, endpointSchema),
  new_file: z.strictObject({
    source: endpointName,
    destination: endpointName,
    nersc: endpointName.optional(),
  }),
  hpc: z
    .strictObject({
      nersc: z
        .strictObject({
          endpoint: endpointName,
          superfacility_url: z.url('must be a URL'),
          account: text,
          image: text,
          ...siteCommon,
        })
        .optional(),
      alcf: z
        .strictObject({
          endpoint: endpointName,
          globus_compute_endpoint: uuid,
          function_id: uuid,
          ...siteCommon,
        })
        .optional(),
      olcf: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  catalogue: z.strictObject({
    kind: z.enum(['scicat', 'local'], { error: 'must be "scicat" or "local"' }),
    url: z.url('must be a URL').optional(),
  }),
  images: z.record(text, text.max(400)).optional(),
  decision: z.strictObject({
    local_file_management: z.boolean(),
    nersc: z.boolean(),
    alcf: z.boolean(),
    olcf: z.boolean().optional(),
    send_to_nersc: z.boolean(),
  }),
  retention: z.record(endpointName, days).optional(),
  export_control: z
    .strictObject({
      paths: z.array(text.max(500)).optional(),
      retention: z.record(endpointName, days).optional(),
    })
    .optional(),
});
type RawConfig = z.output<typeof configSchema>;

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * The first issue of a failed parse as a field path and a one-line reason: unknown keys name
 * the key itself, invalid record keys give the key schema's message.
 */
export function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0];
  if (issue === undefined) return { field: '', message: 'invalid' };
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return { field: formatIssuePath([...issue.path, key]), message: 'unknown key' };
  }
  if (issue.code === 'invalid_key') {
    return {
      field: formatIssuePath(issue.path),
      message: issue.issues[0]?.message ?? issue.message,
    };
  }
  return { field: formatIssuePath(issue.path), message: issue.message };
}

/** Parses `value` with `schema` using this module's messages; for the dispatcher's request. */
export function parseWithFieldErrors<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: (field: string, message: string) => BatonError,
): z.output<S> {
  const result = schema.safeParse(value, { error: configErrorMap });
  if (result.success) return result.data;
  const { field, message } = firstIssue(result.error);
  throw where(field, message);
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * Normalises a POSIX path given in a config or a request: drops `.` segments, repeated and
 * trailing `/`; refuses `..`, NUL, control characters and `\`. Keeps a leading `/`.
 */
export function normalizeEndpointPath(input: string, field: string): string {
  const invalid = (why: string): BatonError =>
    new BatonError('validation', `${field}: ${why}`, { field });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(input)) throw invalid('must not contain control characters');
  if (input.includes('\\')) throw invalid('must use / as separator');
  const segments = input.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw invalid('must not contain ..');
  const joined = segments.join('/');
  return input.startsWith('/') ? `/${joined}` : joined;
}

/**
 * The part of `path` below `root` (both normalised), or null when `path` is not inside it.
 * Returns '' for the root itself.
 */
export function pathBelowRoot(root: string, path: string): string | null {
  if (root.startsWith('/') !== path.startsWith('/')) return null;
  if (root === '/') return path.slice(1);
  if (path === root) return '';
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : null;
}

/** The full path of `relative` (as `pathBelowRoot` returns it) at `endpoint`. */
export function endpointPath(endpoint: Pick<BeamlineEndpoint, 'root'>, relative: string): string {
  if (relative === '') return endpoint.root;
  return endpoint.root.endsWith('/')
    ? `${endpoint.root}${relative}`
    : `${endpoint.root}/${relative}`;
}

/** Looks an endpoint up by name (own keys only, so `constructor` is not an endpoint). */
export function findEndpoint(config: BeamlineConfig, name: string): BeamlineEndpoint | undefined {
  return Object.hasOwn(config.endpoints, name) ? config.endpoints[name] : undefined;
}

/** A matcher for `export_control.paths` over endpoint-relative paths. */
export function exportControlMatcher(patterns: readonly string[]): (relative: string) => string[] {
  const matchers = patterns.map((pattern) => ({
    pattern,
    test: picomatch(pattern, { dot: true, nocase: true }),
  }));
  return (relative) => matchers.filter((m) => m.test(relative)).map((m) => m.pattern);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses and validates the text of a beamline config file. Errors are BatonError('validation')
 * with the message `<file>: <field path>: <why>` and `field` set to the path (YAML syntax errors
 * name `<file>:<line>:<column>` instead).
 */
export function parseBeamlineConfig(source: string, fileName: string): BeamlineConfig {
  const raw = parseYamlConfig(source, fileName);
  const result = configSchema.safeParse(raw, { error: configErrorMap });
  if (!result.success) {
    const issue = firstIssue(result.error);
    let message = issue.message;
    if (issue.field === '' && result.error.issues[0]?.code === 'invalid_type') {
      message = 'must be a YAML mapping with beamline, endpoints, new_file, catalogue and decision';
    }
    throw configError(fileName, issue.field, message);
  }
  return normalize(result.data, fileName);
}

function normalize(raw: RawConfig, fileName: string): BeamlineConfig {
  const fail = (field: string, why: string): BatonError => configError(fileName, field, why);
  const endpoints: Record<string, BeamlineEndpoint> = {};
  const seenRoots = new Map<string, string>();
  const homes: string[] = [];
  for (const [name, e] of Object.entries(raw.endpoints)) {
    const field = `endpoints.${name}`;
    let root: string;
    try {
      root = normalizeEndpointPath(e.root, `${field}.root`);
    } catch (error) {
      if (error instanceof BatonError) throw fail(`${field}.root`, stripField(error));
      throw error;
    }
    if (root === '' || (root === '/' && e.kind !== 'globus')) {
      throw fail(`${field}.root`, `must name a folder (not the ${root === '' ? '.' : '/'} root)`);
    }
    if (e.kind === 'globus' && e.collection === undefined) {
      throw fail(`${field}.collection`, 'required for a globus endpoint (the collection id)');
    }
    if (e.kind !== 'globus' && e.collection !== undefined) {
      throw fail(`${field}.collection`, `only globus endpoints have a collection, not ${e.kind}`);
    }
    const rootKey = `${e.kind}\n${e.collection ?? ''}\n${root}`;
    const other = seenRoots.get(rootKey);
    if (other !== undefined) {
      throw fail(`${field}.root`, `same root as endpoints.${other}; a path must name one endpoint`);
    }
    seenRoots.set(rootKey, name);
    if (e.home === true) homes.push(name);
    endpoints[name] = {
      name,
      kind: e.kind,
      root,
      collection: e.collection,
      home: e.home === true,
      offsite: e.offsite,
    };
  }
  if (Object.keys(endpoints).length === 0) throw fail('endpoints', 'must list at least one');
  if (homes.length === 0) {
    throw fail('endpoints', 'one endpoint must be the raw data\'s home ("home: true")');
  }
  if (homes.length > 1) {
    throw fail(`endpoints.${homes[1]}.home`, `only one home; endpoints.${homes[0]} is already`);
  }

  const known = (field: string, name: string): BeamlineEndpoint => {
    const endpoint = Object.hasOwn(endpoints, name) ? endpoints[name] : undefined;
    if (endpoint === undefined) {
      throw fail(field, `"${name}" is not one of endpoints (${Object.keys(endpoints).join(', ')})`);
    }
    return endpoint;
  };

  const source = known('new_file.source', raw.new_file.source);
  const destination = known('new_file.destination', raw.new_file.destination);
  if (source.name === destination.name) {
    throw fail('new_file.destination', 'must differ from new_file.source');
  }
  for (const [role, endpoint] of [
    ['source', source],
    ['destination', destination],
  ] as const) {
    if (endpoint.offsite) {
      throw fail(
        `new_file.${role}`,
        `"${endpoint.name}" is off-site; every new file (export-controlled ones too) goes to ` +
          'the source and destination, so both must be on-site',
      );
    }
  }
  if (raw.new_file.nersc !== undefined) {
    const nersc = known('new_file.nersc', raw.new_file.nersc);
    if (nersc.name === source.name || nersc.name === destination.name) {
      throw fail('new_file.nersc', 'must differ from new_file.source and new_file.destination');
    }
  }

  const images = raw.images ?? {};
  const hpc = raw.hpc ?? {};
  if (hpc.nersc !== undefined) {
    known('hpc.nersc.endpoint', hpc.nersc.endpoint);
    if (!Object.hasOwn(images, hpc.nersc.image)) {
      const names = Object.keys(images);
      throw fail(
        'hpc.nersc.image',
        `"${hpc.nersc.image}" is not one of images (${names.length ? names.join(', ') : 'none'})`,
      );
    }
  }
  if (hpc.alcf !== undefined) known('hpc.alcf.endpoint', hpc.alcf.endpoint);
  const sites = {
    nersc: hpc.nersc === undefined ? undefined : siteOf(hpc.nersc, 'nersc', known, fail),
    alcf: hpc.alcf === undefined ? undefined : siteOf(hpc.alcf, 'alcf', known, fail),
  };

  const catalogue: Catalogue =
    raw.catalogue.kind === 'scicat'
      ? { kind: 'scicat', url: raw.catalogue.url ?? '' }
      : { kind: 'local' };
  if (raw.catalogue.kind === 'scicat' && raw.catalogue.url === undefined) {
    throw fail('catalogue.url', 'required for a scicat catalogue');
  }
  if (raw.catalogue.kind === 'local' && raw.catalogue.url !== undefined) {
    throw fail('catalogue.url', 'a local catalogue has no url');
  }

  const decision: DecisionSettings = { ...raw.decision, olcf: raw.decision.olcf ?? false };
  if (decision.nersc && hpc.nersc === undefined) {
    throw fail('decision.nersc', 'is on, but hpc.nersc is not configured');
  }
  if (decision.alcf && hpc.alcf === undefined) {
    throw fail('decision.alcf', 'is on, but hpc.alcf is not configured');
  }
  if (decision.olcf && hpc.olcf === undefined) {
    throw fail('decision.olcf', 'is on, but hpc.olcf is not configured');
  }
  if (decision.send_to_nersc && raw.new_file.nersc === undefined) {
    throw fail('decision.send_to_nersc', 'is on, but new_file.nersc is not configured');
  }

  const retention = checkRetention(raw.retention ?? {}, 'retention', known, fail, false);
  const exportControl = raw.export_control ?? {};
  const paths = exportControl.paths ?? [];
  paths.forEach((pattern, i) => {
    if (pattern.startsWith('/') || pattern.split('/').includes('..')) {
      throw fail(
        `export_control.paths[${i}]`,
        'patterns match paths relative to an endpoint root: no leading / and no ..',
      );
    }
  });
  const controlledRetention =
    exportControl.retention === undefined
      ? undefined
      : checkRetention(exportControl.retention, 'export_control.retention', known, fail, true);

  return {
    beamline: raw.beamline,
    endpoints,
    new_file: {
      source: source.name,
      destination: destination.name,
      nersc: raw.new_file.nersc,
    },
    hpc: { nersc: sites.nersc, alcf: sites.alcf, olcf: hpc.olcf },
    catalogue,
    images,
    decision,
    retention,
    export_control: { paths, retention: controlledRetention },
  };
}

function siteOf<S extends { endpoint: string; scratch?: string | undefined }>(
  raw: S & { local?: z.output<typeof localRunnerSchema> | undefined },
  site: string,
  known: (field: string, name: string) => BeamlineEndpoint,
  fail: (field: string, why: string) => BatonError,
): Omit<S, 'local' | 'scratch'> & SiteCommon {
  if (raw.scratch !== undefined) {
    const scratch = known(`hpc.${site}.scratch`, raw.scratch);
    if (scratch.home) {
      throw fail(`hpc.${site}.scratch`, `${scratch.name} is the raw data's home, not scratch`);
    }
    if (scratch.name === raw.endpoint) {
      throw fail(`hpc.${site}.scratch`, `must differ from hpc.${site}.endpoint`);
    }
  }
  const local =
    raw.local === undefined
      ? undefined
      : {
          reconstruct: raw.local.reconstruct,
          multi_resolution: raw.local.multi_resolution,
          timeout_seconds: raw.local.timeout_seconds,
        };
  return { ...raw, scratch: raw.scratch, local };
}

function checkRetention(
  entries: Record<string, number>,
  section: string,
  known: (field: string, name: string) => BeamlineEndpoint,
  fail: (field: string, why: string) => BatonError,
  exportControlled: boolean,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, afterDays] of Object.entries(entries)) {
    const field = `${section}.${name}`;
    const endpoint = known(field, name);
    if (endpoint.home) throw fail(field, `${name} is the raw data's home, which is never pruned`);
    if (exportControlled && endpoint.offsite) {
      throw fail(field, `${name} is off-site, where export-controlled data never goes`);
    }
    out[name] = afterDays;
  }
  return out;
}

function stripField(error: BatonError): string {
  const prefix = `${error.field ?? ''}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
