import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GlobusComputeController } from '../../shared/adapters/alcf/globusComputeController.js';
import {
  hpcControllerFor,
  type HpcControllersConfig,
} from '../../shared/adapters/hpcControllers.js';
import { LocalHpcSite } from '../../shared/adapters/local/localHpcSite.js';
import { SfapiController } from '../../shared/adapters/nersc/sfapiController.js';
import type { ComputeBackend } from '../../shared/ports/compute.js';
import { isBatonError } from '../../shared/domain/errors.js';

const configured: HpcControllersConfig = {
  beamline: {
    images: { recon: 'registry.nersc.gov/als/tomopy:2024.11' },
    hpc: {
      nersc: {
        endpoint: 'nersc832',
        superfacility_url: 'https://api.nersc.gov/api/v1.2',
        account: 'als',
        image: 'recon',
      },
      alcf: {
        endpoint: 'alcf832',
        globus_compute_endpoint: '11111111-2222-4333-8444-555555555555',
        function_id: '66666666-7777-4888-8999-aaaaaaaaaaaa',
      },
      olcf: undefined,
    },
  },
  tokens: { nersc: 'n-token', alcf: 'a-token' },
  local: {
    backend: {} as ComputeBackend,
    reconstruct: ['recon', '{input}', '{output}'],
    multiResolution: ['multires', '{input}', '{output}'],
  },
};

const unconfigured: HpcControllersConfig = {
  beamline: { images: {}, hpc: { nersc: undefined, alcf: undefined, olcf: undefined } },
};

function failsWith(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(isBatonError(error, 'validation'), String(error));
    assert.equal(error.field, field);
    assert.match(error.message, message);
    return true;
  });
}

describe('hpcControllerFor', () => {
  it('returns the controller for each configured site', () => {
    assert.ok(hpcControllerFor('nersc', configured) instanceof SfapiController);
    assert.ok(hpcControllerFor('alcf', configured) instanceof GlobusComputeController);
    assert.ok(hpcControllerFor('local', configured) instanceof LocalHpcSite);
    assert.equal(hpcControllerFor('nersc', configured).site, 'nersc');
  });

  it('olcf is "not implemented", never nothing', () => {
    failsWith(() => hpcControllerFor('olcf', configured), 'site', /olcf.*not implemented/);
  });

  it('an unknown site names the known ones', () => {
    failsWith(
      () => hpcControllerFor('summit', configured),
      'site',
      /unknown HPC site "summit"; known: nersc, alcf, local/,
    );
  });

  it('a known site without configuration or token names what is missing', () => {
    failsWith(() => hpcControllerFor('nersc', unconfigured), 'hpc.nersc', /not configured/);
    failsWith(() => hpcControllerFor('alcf', unconfigured), 'hpc.alcf', /not configured/);
    failsWith(() => hpcControllerFor('local', unconfigured), 'local', /not configured/);
    failsWith(
      () => hpcControllerFor('nersc', { ...configured, tokens: {} }),
      'tokens.nersc',
      /no access token/,
    );
    failsWith(
      () => hpcControllerFor('alcf', { ...configured, tokens: { nersc: 'x' } }),
      'tokens.alcf',
      /no access token/,
    );
  });

  it('never shows a token in a controller', () => {
    assert.doesNotMatch(JSON.stringify(hpcControllerFor('nersc', configured)), /n-token/);
    assert.doesNotMatch(JSON.stringify(hpcControllerFor('alcf', configured)), /a-token/);
  });
});

describe('hpcControllerFor: a site whose scripts run on this machine (hpc.<site>.local)', () => {
  const launched: Array<{ argv: string[] }> = [];
  const recordingBackend = {
    launch: (spec: { jobId: string; argv: string[] }) => {
      launched.push({ argv: spec.argv });
      return Promise.resolve({ jobId: spec.jobId, state: 'running' as const });
    },
  } as unknown as ComputeBackend;
  const withLocal: HpcControllersConfig = {
    ...configured,
    beamline: {
      ...configured.beamline,
      hpc: {
        ...configured.beamline.hpc,
        nersc: {
          ...configured.beamline.hpc.nersc!,
          local: {
            reconstruct: ['node', '{config_dir}/scripts/reconstruct.mjs', '{input}', '{output}'],
            multi_resolution: ['node', '{config_dir}/zarr.mjs', '{input}', '{output}'],
            timeout_seconds: 60,
          },
        },
      },
    },
  };

  it('runs the argv templates with {config_dir}, {input} and {output} filled in, as argv', async () => {
    const controller = hpcControllerFor('nersc', {
      ...withLocal,
      localRunner: { backend: recordingBackend, configDir: '/srv/beamline' },
    });
    assert.ok(controller instanceof LocalHpcSite);
    assert.equal(controller.site, 'nersc');
    const status = await controller.reconstruct({
      jobId: 'run-1-nersc-recon-a1',
      input: '/data/raw/scan.h5',
      output: '/scratch/rec_scan',
    });
    assert.equal(status.state, 'running');
    assert.deepEqual(launched.at(-1)?.argv, [
      'node',
      '/srv/beamline/scripts/reconstruct.mjs',
      '/data/raw/scan.h5',
      '/scratch/rec_scan',
    ]);
  });

  it('fails naming hpc.<site>.local when this host cannot run processes (ACI)', () => {
    failsWith(
      () => hpcControllerFor('nersc', withLocal),
      'hpc.nersc.local',
      /cannot run site scripts locally/,
    );
  });
});
