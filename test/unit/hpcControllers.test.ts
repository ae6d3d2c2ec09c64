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
