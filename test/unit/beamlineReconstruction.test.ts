import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { beamlineFlowRequest } from '../../shared/app/beamlineFlows.js';
import { parseBeamlineConfig, type BeamlineConfig } from '../../shared/domain/beamline/config.js';
import { planReconstruction } from '../../shared/domain/beamline/reconstruction.js';
import { expectBatonError } from './batonErrorAssert.js';

const exampleText = readFileSync(
  new URL('../../examples/beamline/beamline.yaml', import.meta.url),
  'utf8',
);
const example = parseBeamlineConfig(exampleText, 'beamline.yaml');

describe('planReconstruction', () => {
  it('NERSC reads the raw file at its home and writes rec_<stem>/ and .zarr at scratch', () => {
    const plan = planReconstruction(example, 'nersc', { endpoint: 'nersc832', path: '2026/a.h5' });
    assert.deepEqual(plan.raw, { endpoint: 'nersc832', path: '2026/a.h5' });
    assert.equal(plan.stage, null);
    assert.deepEqual(plan.tiff, { endpoint: 'nersc832_scratch', path: '2026/rec_a' });
    assert.deepEqual(plan.zarr, { endpoint: 'nersc832_scratch', path: '2026/rec_a.zarr' });
    assert.deepEqual(plan.back, [
      { from: 'nersc832_scratch', to: 'data832', path: '2026/rec_a' },
      { from: 'nersc832_scratch', to: 'data832', path: '2026/rec_a.zarr' },
    ]);
    // Scratch after 14 days; nersc832 is the home: its raw copy is never pruned.
    assert.deepEqual(
      plan.retention.map((r) => [r.endpoint, r.path, r.folder, r.afterDays]),
      [
        ['nersc832_scratch', '2026/rec_a', true, 14],
        ['nersc832_scratch', '2026/rec_a.zarr', true, 14],
      ],
    );
  });

  it('copies a raw file named elsewhere to the site first', () => {
    const plan = planReconstruction(example, 'nersc', { endpoint: 'data832', path: 'c.h5' });
    assert.deepEqual(plan.stage, { from: 'data832', to: 'nersc832', path: 'c.h5' });
    assert.deepEqual(plan.siteRaw, { endpoint: 'nersc832', path: 'c.h5' });
  });

  it('ALCF stages the raw file from beamline storage and prunes its raw copy too', () => {
    const plan = planReconstruction(example, 'alcf', { endpoint: 'data832', path: 'b.h5' });
    assert.deepEqual(plan.raw, { endpoint: 'data832', path: 'b.h5' });
    assert.deepEqual(plan.stage, { from: 'data832', to: 'alcf832', path: 'b.h5' });
    assert.deepEqual(plan.siteRaw, { endpoint: 'alcf832', path: 'b.h5' });
    assert.deepEqual(
      plan.retention.map((r) => [r.endpoint, r.path, r.afterDays]),
      [
        ['alcf832_scratch', 'rec_b', 7],
        ['alcf832_scratch', 'rec_b.zarr', 7],
        ['alcf832', 'b.h5', 7],
      ],
    );
  });

  it('refuses a site without scratch or without configuration, naming the field', () => {
    const noScratch: BeamlineConfig = {
      ...example,
      hpc: { ...example.hpc, nersc: { ...example.hpc.nersc!, scratch: undefined } },
    };
    const e = expectBatonError(() =>
      planReconstruction(noScratch, 'nersc', { endpoint: 'data832', path: 'a.h5' }),
    );
    assert.equal(e.field, 'hpc.nersc.scratch');
    const noSite: BeamlineConfig = { ...example, hpc: { ...example.hpc, alcf: undefined } };
    assert.equal(
      expectBatonError(() =>
        planReconstruction(noSite, 'alcf', { endpoint: 'data832', path: 'a.h5' }),
      ).field,
      'hpc.alcf',
    );
  });
});

describe('beamline config: hpc.<site>.scratch and .local', () => {
  it('refuses a scratch that is the home or the site endpoint, and an empty argv', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['scratch: nersc832_scratch', 'scratch: nersc832', /raw data's home, not scratch/],
      ['scratch: alcf832_scratch', 'scratch: alcf832', /must differ from hpc\.alcf\.endpoint/],
      ['scratch: nersc832_scratch', 'scratch: nowhere', /"nowhere" is not one of endpoints/],
      [
        '      timeout_seconds: 600\n  alcf:',
        '      timeout_seconds: 0\n  alcf:',
        /timeout_seconds/,
      ],
    ];
    for (const [from, to, why] of cases) {
      const text = exampleText.replace(from, to);
      assert.notEqual(text, exampleText, from);
      const error = expectBatonError(() => parseBeamlineConfig(text, 'b.yaml'));
      assert.match(error.message, why);
    }
    const empty = exampleText.replace(
      "reconstruct: [node, '{config_dir}/scripts/reconstruct.mjs', '{input}', '{output}']",
      'reconstruct: []',
    );
    assert.match(
      expectBatonError(() => parseBeamlineConfig(empty, 'b.yaml')).message,
      /hpc\.nersc\.local\.reconstruct: must list the program and its arguments/,
    );
  });
});

describe('beamlineFlowRequest', () => {
  it('maps each flow to its pipeline and keeps the params and run id', () => {
    assert.deepEqual(beamlineFlowRequest('new-file', { config: 'b.yaml', path: 'x' }), {
      pipeline: 'beamline',
      params: { config: 'b.yaml', path: 'x' },
    });
    assert.deepEqual(beamlineFlowRequest('test-transfers', { config: 'b.yaml', runId: 'r1' }), {
      pipeline: 'beamline-test-transfers',
      params: { config: 'b.yaml' },
      runId: 'r1',
    });
    assert.equal(beamlineFlowRequest('reconstruct', {}).pipeline, 'beamline-reconstruct');
  });

  it('refuses an unknown flow and a body that is not an object', () => {
    assert.equal(
      expectBatonError(() => beamlineFlowRequest('constructor', {}), 'not_found').field,
      'flow',
    );
    assert.equal(expectBatonError(() => beamlineFlowRequest('new-file', [1])).field, 'body');
  });
});
