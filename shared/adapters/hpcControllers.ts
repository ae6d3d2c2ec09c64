import type { BeamlineConfig, LocalSiteRunner } from '../domain/beamline/config.js';
import { BatonError } from '../domain/errors.js';
import type { ComputeBackend } from '../ports/compute.js';
import type { HpcController } from '../ports/hpc.js';
import { GlobusComputeController } from './alcf/globusComputeController.js';
import type { RetryOptions } from './http/restClient.js';
import { LocalHpcSite, type LocalHpcSiteOptions } from './local/localHpcSite.js';
import { SfapiController, type SfapiControllerOptions } from './nersc/sfapiController.js';

export const hpcSites = ['nersc', 'alcf', 'local'] as const;
export type HpcSite = (typeof hpcSites)[number];

/** Everything the factory needs besides the site's name. */
export interface HpcControllersConfig {
  /** The beamline configuration's `hpc` sites and `images`. */
  beamline: Pick<BeamlineConfig, 'hpc' | 'images'>;
  /** Access tokens, read by the caller from its secret store; never logged. */
  tokens?: { nersc?: string; alcf?: string };
  /** The NERSC commands inside the image (defaults: the seed's scripts). */
  nersc?: Partial<
    Pick<
      SfapiControllerOptions,
      'reconstructCommand' | 'multiResolutionCommand' | 'machine' | 'defaults'
    >
  >;
  /** Globus Compute's base URL (default the production service) and a second function. */
  alcf?: { baseUrl?: string; multiResolutionFunctionId?: string };
  /** The local site's backend and argv templates. */
  local?: LocalHpcSiteOptions;
  /**
   * Where a site configured with `local:` (its scripts run on this machine) runs them, and the
   * config file's folder that `{config_dir}` in its argv stands for.
   */
  localRunner?: { backend: ComputeBackend; configDir: string };
  timeoutMs?: number;
  retry?: RetryOptions;
  fetch?: typeof fetch;
}

/**
 * The controller for a site: `nersc` (Superfacility API, from `hpc.nersc`), `alcf` (Globus
 * Compute, from `hpc.alcf`) or `local` (processes on this machine). Never returns nothing:
 * `olcf` fails as "not implemented" (the seed lists it; nobody has built it), an unknown name
 * fails naming the known ones, and a known site without its configuration or token fails
 * naming the missing field — all `validation`, the configuration's author's to fix.
 */
export function hpcControllerFor(site: string, config: HpcControllersConfig): HpcController {
  const common = {
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    ...(config.retry === undefined ? {} : { retry: config.retry }),
    ...(config.fetch === undefined ? {} : { fetch: config.fetch }),
  };
  switch (site) {
    case 'nersc': {
      const nersc = config.beamline.hpc.nersc;
      if (nersc === undefined) throw notConfigured('hpc.nersc', 'nersc');
      if (nersc.local !== undefined) return localRunnerSite('nersc', nersc.local, config);
      const image = Object.hasOwn(config.beamline.images, nersc.image)
        ? config.beamline.images[nersc.image]
        : undefined;
      if (image === undefined) {
        throw new BatonError(
          'validation',
          `hpc.nersc.image: "${nersc.image}" is not one of images`,
          {
            field: 'hpc.nersc.image',
          },
        );
      }
      return new SfapiController({
        baseUrl: nersc.superfacility_url,
        token: requireToken(config.tokens?.nersc, 'nersc'),
        account: nersc.account,
        image,
        reconstructCommand: config.nersc?.reconstructCommand ?? [
          'python',
          '/alsuser/sfapi_reconstruction.py',
        ],
        multiResolutionCommand: config.nersc?.multiResolutionCommand ?? [
          'python',
          '/alsuser/tiff_to_zarr.py',
        ],
        ...(config.nersc?.machine === undefined ? {} : { machine: config.nersc.machine }),
        ...(config.nersc?.defaults === undefined ? {} : { defaults: config.nersc.defaults }),
        ...common,
      });
    }
    case 'alcf': {
      const alcf = config.beamline.hpc.alcf;
      if (alcf === undefined) throw notConfigured('hpc.alcf', 'alcf');
      if (alcf.local !== undefined) return localRunnerSite('alcf', alcf.local, config);
      return new GlobusComputeController({
        token: requireToken(config.tokens?.alcf, 'alcf'),
        endpointId: alcf.globus_compute_endpoint,
        functionId: alcf.function_id,
        ...(config.alcf?.baseUrl === undefined ? {} : { baseUrl: config.alcf.baseUrl }),
        ...(config.alcf?.multiResolutionFunctionId === undefined
          ? {}
          : { multiResolutionFunctionId: config.alcf.multiResolutionFunctionId }),
        ...common,
      });
    }
    case 'local':
      if (config.local === undefined) throw notConfigured('local', 'local');
      return new LocalHpcSite(config.local);
    case 'olcf':
      throw new BatonError(
        'validation',
        'HPC site "olcf": not implemented (use nersc, alcf or local)',
        { field: 'site' },
      );
    default:
      throw new BatonError(
        'validation',
        `unknown HPC site "${site.slice(0, 40)}"; known: ${hpcSites.join(', ')} (olcf is not implemented)`,
        { field: 'site' },
      );
  }
}

function localRunnerSite(
  site: 'nersc' | 'alcf',
  runner: LocalSiteRunner,
  config: HpcControllersConfig,
): HpcController {
  if (config.localRunner === undefined) {
    throw new BatonError(
      'validation',
      `hpc.${site}.local: this host cannot run site scripts locally (BATON_COMPUTE is not local)`,
      { field: `hpc.${site}.local` },
    );
  }
  const { backend, configDir } = config.localRunner;
  const expand = (argv: string[]): string[] =>
    argv.map((arg) => arg.replaceAll('{config_dir}', configDir));
  return new LocalHpcSite({
    site,
    backend,
    reconstruct: expand(runner.reconstruct),
    multiResolution: expand(runner.multi_resolution),
    ...(runner.timeout_seconds === undefined ? {} : { timeoutSeconds: runner.timeout_seconds }),
  });
}

function notConfigured(field: string, site: string): BatonError {
  return new BatonError('validation', `${field}: HPC site "${site}" is not configured`, { field });
}

function requireToken(token: string | undefined, site: 'nersc' | 'alcf'): string {
  if (token === undefined || token === '') {
    throw new BatonError('validation', `tokens.${site}: no access token for HPC site "${site}"`, {
      field: `tokens.${site}`,
    });
  }
  return token;
}
