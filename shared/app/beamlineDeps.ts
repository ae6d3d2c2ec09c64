import path from 'node:path';
import type { BeamlineDeps } from './beamline.js';
import type { Services } from './services.js';

/**
 * The beamline functions' ports, taken from the process-wide services and settings: the folder
 * lake's root (where `lake` endpoints are, locally) and the compute backend that runs a site's
 * scripts when the config says the site runs them on this machine (`hpc.<site>.local`).
 */
export function beamlineDepsOf(
  s: Pick<Services, 'state' | 'clock' | 'config' | 'compute'>,
  env: Record<string, string | undefined> = process.env,
): BeamlineDeps {
  return {
    state: s.state,
    clock: s.clock,
    sourcesRoot: s.config.modelSourcesRoot,
    lakeFolder: s.config.BATON_LAKE === 'folder' ? path.join(s.config.stateDir, 'lake') : undefined,
    localCompute: s.config.BATON_COMPUTE === 'local' ? s.compute : undefined,
    hpcTokens: {
      nersc: secretFrom(env, s.config.BATON_NERSC_TOKEN_ENV),
      alcf: secretFrom(env, s.config.BATON_ALCF_TOKEN_ENV),
    },
  };
}

function secretFrom(
  env: Record<string, string | undefined>,
  name: string | undefined,
): string | undefined {
  const value = name === undefined ? undefined : env[name];
  return value === undefined || value === '' ? undefined : value;
}
