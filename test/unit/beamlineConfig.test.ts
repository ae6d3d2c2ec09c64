import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import {
  endpointPath,
  exportControlMatcher,
  findEndpoint,
  normalizeEndpointPath,
  parseBeamlineConfig,
  pathBelowRoot,
} from '../../shared/domain/beamline/config.js';
import { expectBatonError } from './batonErrorAssert.js';

const exampleFile = new URL('../../examples/beamline/beamline.yaml', import.meta.url);
const exampleText = readFileSync(exampleFile, 'utf8');

/** A YAML document being edited: any shape, as the bad configs below need. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- edits write arbitrary shapes
type Doc = Record<string, any>;

/** The example as a plain object, changed by `edit`, written back as YAML. */
function variant(edit: (doc: Doc) => void): string {
  const doc = parseYaml(exampleText) as Doc;
  edit(doc);
  return stringify(doc);
}

function expectConfigError(text: string, field: string, why: RegExp, file = 'bl.yaml'): void {
  const e = expectBatonError(() => parseBeamlineConfig(text, file));
  assert.equal(e.field, field, e.message);
  assert.ok(e.message.startsWith(`${file}: ${field}: `), e.message);
  assert.match(e.message, why);
  assert.ok(!e.message.includes('\n'), e.message);
}

describe('parseBeamlineConfig: the example', () => {
  it('parses examples/beamline/beamline.yaml: the landing lake folder and local-folder endpoints', () => {
    const config = parseBeamlineConfig(exampleText, 'beamline.yaml');
    assert.equal(config.beamline, 'bl832');
    assert.deepEqual(Object.keys(config.endpoints), [
      'spot832',
      'data832',
      'nersc832',
      'alcf832',
      'nersc832_scratch',
      'alcf832_scratch',
    ]);
    assert.equal(config.endpoints.spot832?.kind, 'lake');
    assert.equal(config.endpoints.spot832?.root, 'landing/bl832');
    for (const endpoint of Object.values(config.endpoints)) {
      if (endpoint.name !== 'spot832') {
        assert.equal(endpoint.kind, 'folder');
        assert.equal(endpoint.root, `endpoints/${endpoint.name}`);
      }
      assert.equal(endpoint.collection, undefined);
    }
    assert.equal(config.hpc.nersc?.scratch, 'nersc832_scratch');
    assert.equal(config.hpc.alcf?.scratch, 'alcf832_scratch');
    assert.equal(config.hpc.nersc?.local?.reconstruct[0], 'node');
    assert.deepEqual(
      Object.values(config.endpoints)
        .filter((e) => e.home)
        .map((e) => e.name),
      ['nersc832'],
    );
    assert.equal(config.endpoints.spot832?.offsite, false);
    assert.equal(config.endpoints.alcf832?.offsite, true);
    assert.deepEqual(config.new_file, {
      source: 'spot832',
      destination: 'data832',
      nersc: 'nersc832',
    });
    assert.equal(config.hpc.nersc?.image, 'recon');
    assert.ok(config.images.recon?.startsWith('ghcr.io/'));
    assert.equal(config.hpc.alcf?.endpoint, 'alcf832');
    assert.equal(config.hpc.olcf, undefined);
    assert.deepEqual(config.catalogue, { kind: 'local' });
    assert.deepEqual(config.decision, {
      local_file_management: true,
      nersc: true,
      alcf: false,
      olcf: false,
      send_to_nersc: true,
    });
    assert.deepEqual(config.retention, {
      spot832: 7,
      data832: 180,
      alcf832: 7,
      nersc832_scratch: 14,
      alcf832_scratch: 7,
    });
    assert.deepEqual(config.export_control, {
      paths: ['restricted/**', '**/*_ec.h5'],
      retention: { spot832: 7 },
    });
  });

  it('accepts globus and lake endpoints, a scicat catalogue and an opaque olcf section', () => {
    const config = parseBeamlineConfig(
      variant((d) => {
        d.endpoints.spot832 = {
          kind: 'globus',
          root: '/',
          collection: '9c5f8e2a-1b7d-4a3e-9f10-2d6c8b4e7a01',
          offsite: false,
        };
        d.endpoints.data832 = {
          kind: 'globus',
          root: '/data/./raw/',
          collection: '9c5f8e2a-1b7d-4a3e-9f10-2d6c8b4e7a02',
          offsite: false,
        };
        d.endpoints.alcf832 = { kind: 'lake', root: 'beamlines/832', offsite: true };
        d.catalogue = { kind: 'scicat', url: 'https://scicat.example.org/api/v3' };
        d.hpc.olcf = { anything: 1 };
        d.decision.olcf = true;
        delete d.export_control;
      }),
      'bl.yaml',
    );
    assert.equal(config.endpoints.spot832?.root, '/');
    assert.equal(config.endpoints.data832?.root, '/data/raw');
    assert.deepEqual(config.catalogue, {
      kind: 'scicat',
      url: 'https://scicat.example.org/api/v3',
    });
    assert.deepEqual(config.hpc.olcf, { anything: 1 });
    assert.equal(config.decision.olcf, true);
    assert.deepEqual(config.export_control, { paths: [], retention: undefined });
  });
});

describe('parseBeamlineConfig: errors name the field', () => {
  const cases: Array<[string, (d: Doc) => void, string, RegExp]> = [
    ['a missing field', (d) => delete d.beamline, 'beamline', /required/],
    [
      'an unknown key (a typo in a safety setting)',
      (d) => (d.endpoints.spot832.ofsite = false),
      'endpoints.spot832.ofsite',
      /unknown key/,
    ],
    ['an unknown top-level key', (d) => (d.extra = 1), 'extra', /unknown key/],
    [
      'a bad endpoint name',
      (d) => (d.endpoints['Spot 832'] = { kind: 'folder', root: 'x', offsite: false }),
      'endpoints.Spot 832',
      /lower-case letters/,
    ],
    [
      'an endpoint kind outside lake, globus, folder',
      (d) => (d.endpoints.spot832.kind = 'ftp'),
      'endpoints.spot832.kind',
      /lake, globus, folder/,
    ],
    [
      'offsite left out',
      (d) => delete d.endpoints.data832.offsite,
      'endpoints.data832.offsite',
      /required/,
    ],
    [
      'a wrong type',
      (d) => (d.endpoints.data832.offsite = 'no'),
      'endpoints.data832.offsite',
      /expected boolean, got string/,
    ],
    [
      'a root with ..',
      (d) => (d.endpoints.spot832.root = 'endpoints/../../etc'),
      'endpoints.spot832.root',
      /must not contain \.\./,
    ],
    [
      'a folder rooted at /',
      (d) => (d.endpoints.spot832.root = '/'),
      'endpoints.spot832.root',
      /must name a folder/,
    ],
    [
      'two endpoints with one root',
      (d) => (d.endpoints.alcf832.root = 'endpoints/nersc832/'),
      'endpoints.alcf832.root',
      /same root as endpoints\.nersc832/,
    ],
    [
      'a globus endpoint without its collection',
      (d) => (d.endpoints.spot832.kind = 'globus'),
      'endpoints.spot832.collection',
      /required for a globus endpoint/,
    ],
    [
      'a collection on a folder endpoint',
      (d) => (d.endpoints.spot832.collection = '9c5f8e2a-1b7d-4a3e-9f10-2d6c8b4e7a01'),
      'endpoints.spot832.collection',
      /only globus endpoints/,
    ],
    [
      'a collection that is not a UUID',
      (d) => (d.endpoints.spot832.collection = 'spot'),
      'endpoints.spot832.collection',
      /must be a UUID/,
    ],
    [
      'no home',
      (d) => delete d.endpoints.nersc832.home,
      'endpoints',
      /one endpoint must be the raw data's home/,
    ],
    [
      'two homes',
      (d) => (d.endpoints.data832.home = true),
      'endpoints.nersc832.home',
      /only one home; endpoints\.data832/,
    ],
    [
      'an unknown new_file.source',
      (d) => (d.new_file.source = 'spot733'),
      'new_file.source',
      /"spot733" is not one of endpoints \(spot832, data832, nersc832, alcf832, nersc832_scratch, alcf832_scratch\)/,
    ],
    [
      'an off-site destination',
      (d) => (d.new_file.destination = 'alcf832'),
      'new_file.destination',
      /"alcf832" is off-site/,
    ],
    [
      'source and destination the same',
      (d) => (d.new_file.destination = 'spot832'),
      'new_file.destination',
      /must differ/,
    ],
    [
      'an unknown hpc endpoint',
      (d) => (d.hpc.alcf.endpoint = 'theta'),
      'hpc.alcf.endpoint',
      /"theta" is not one of endpoints/,
    ],
    [
      'an image that images does not name',
      (d) => (d.hpc.nersc.image = 'tomopy'),
      'hpc.nersc.image',
      /"tomopy" is not one of images \(recon, multires\)/,
    ],
    [
      'a superfacility url that is not a URL',
      (d) => (d.hpc.nersc.superfacility_url = 'nersc'),
      'hpc.nersc.superfacility_url',
      /must be a URL/,
    ],
    [
      'a flow turned on without its site',
      (d) => delete d.hpc.nersc,
      'decision.nersc',
      /hpc\.nersc is not configured/,
    ],
    [
      'olcf turned on without its section',
      (d) => (d.decision.olcf = true),
      'decision.olcf',
      /hpc\.olcf is not configured/,
    ],
    [
      'send_to_nersc without new_file.nersc',
      (d) => delete d.new_file.nersc,
      'decision.send_to_nersc',
      /new_file\.nersc is not configured/,
    ],
    ['a decision setting left out', (d) => delete d.decision.alcf, 'decision.alcf', /required/],
    [
      'a scicat catalogue without url',
      (d) => (d.catalogue = { kind: 'scicat' }),
      'catalogue.url',
      /required for a scicat catalogue/,
    ],
    [
      'a catalogue kind outside scicat, local',
      (d) => (d.catalogue = { kind: 'ckan' }),
      'catalogue.kind',
      /must be "scicat" or "local"/,
    ],
    [
      'retention for the home',
      (d) => (d.retention.nersc832 = 30),
      'retention.nersc832',
      /home, which is never pruned/,
    ],
    [
      'retention for an unknown endpoint',
      (d) => (d.retention.tape = 30),
      'retention.tape',
      /"tape" is not one of endpoints/,
    ],
    ['negative retention days', (d) => (d.retention.spot832 = -1), 'retention.spot832', /from 0/],
    [
      'export-controlled retention at an off-site endpoint',
      (d) => (d.export_control.retention.alcf832 = 7),
      'export_control.retention.alcf832',
      /off-site, where export-controlled data never goes/,
    ],
    [
      'an absolute export-control pattern',
      (d) => (d.export_control.paths = ['**/*.h5', '/restricted/**']),
      'export_control.paths[1]',
      /relative to an endpoint root/,
    ],
  ];
  for (const [name, edit, field, why] of cases) {
    it(name, () => {
      expectConfigError(variant(edit), field, why);
    });
  }

  it('YAML syntax errors name the line and column', () => {
    const e = expectBatonError(() => parseBeamlineConfig('beamline: [bl832\n', 'bl.yaml'));
    assert.match(e.message, /^bl\.yaml:\d+:\d+: invalid YAML: /);
    assert.equal(e.field, 'bl.yaml');
  });

  it('a document that is not a mapping says what it should be', () => {
    const e = expectBatonError(() => parseBeamlineConfig('- a\n- b\n', 'bl.yaml'));
    assert.match(e.message, /^bl\.yaml: must be a YAML mapping with beamline, endpoints/);
    assert.equal(e.field, 'bl.yaml', 'the whole file is at fault');
  });

  it('duplicate keys are refused', () => {
    const e = expectBatonError(() =>
      parseBeamlineConfig(`${exampleText}\nbeamline: again\n`, 'bl.yaml'),
    );
    assert.match(e.message, /invalid YAML: .*unique/i);
  });
});

describe('endpoint paths', () => {
  it('normalises, and refuses escapes', () => {
    assert.equal(normalizeEndpointPath('a//b/./c/', 'p'), 'a/b/c');
    assert.equal(normalizeEndpointPath('/data/raw/', 'p'), '/data/raw');
    assert.equal(normalizeEndpointPath('/', 'p'), '/');
    for (const bad of ['a/../b', '..', '/a/..', 'a\\b', 'a\0b', 'a\nb']) {
      const e = expectBatonError(() => normalizeEndpointPath(bad, 'p'));
      assert.equal(e.field, 'p');
    }
  });

  it('finds the part below a root only on a segment boundary', () => {
    assert.equal(pathBelowRoot('endpoints/spot832', 'endpoints/spot832/raw/a.h5'), 'raw/a.h5');
    assert.equal(pathBelowRoot('endpoints/spot832', 'endpoints/spot8320/a.h5'), null);
    assert.equal(pathBelowRoot('endpoints/spot832', '/endpoints/spot832/a.h5'), null);
    assert.equal(pathBelowRoot('/', '/raw/a.h5'), 'raw/a.h5');
    assert.equal(pathBelowRoot('/', 'raw/a.h5'), null);
    assert.equal(pathBelowRoot('/data', '/data'), '');
    assert.equal(endpointPath({ root: '/' }, 'raw/a.h5'), '/raw/a.h5');
    assert.equal(endpointPath({ root: 'endpoints/x' }, 'a.h5'), 'endpoints/x/a.h5');
  });

  it('looks endpoints up by own name only', () => {
    const config = parseBeamlineConfig(exampleText, 'beamline.yaml');
    assert.equal(findEndpoint(config, 'spot832')?.name, 'spot832');
    assert.equal(findEndpoint(config, 'constructor'), undefined);
    assert.equal(findEndpoint(config, 'toString'), undefined);
  });

  it('matches export-control patterns case-insensitively, dot files included', () => {
    const match = exportControlMatcher(['restricted/**', '**/*_ec.h5']);
    assert.deepEqual(match('restricted/a/b.h5'), ['restricted/**']);
    assert.deepEqual(match('raw/scan_EC.h5'), ['**/*_ec.h5']);
    assert.deepEqual(match('Restricted/.hidden'), ['restricted/**']);
    assert.deepEqual(match('raw/scan.h5'), []);
  });
});
