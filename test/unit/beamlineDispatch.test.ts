import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseBeamlineConfig, type BeamlineConfig } from '../../shared/domain/beamline/config.js';
import {
  planDispatch,
  type DispatchPlan,
  type DispatchRequest,
  type HpcFlowPlan,
  type NewFilePlan,
} from '../../shared/domain/beamline/dispatch.js';
import { expectBatonError } from './batonErrorAssert.js';

const example = parseBeamlineConfig(
  readFileSync(new URL('../../examples/beamline/beamline.yaml', import.meta.url), 'utf8'),
  'beamline.yaml',
);

function withDecision(patch: Partial<BeamlineConfig['decision']>): BeamlineConfig {
  return { ...example, decision: { ...example.decision, ...patch } };
}

const spot = (relative: string): string => `landing/bl832/${relative}`;

// ---- the table: every combination of decision settings × export control × send_to_nersc ----

type ExportControl = 'none' | 'flagged' | 'pattern';
interface Row {
  local_file_management: boolean;
  nersc: boolean;
  alcf: boolean;
  send_to_nersc: boolean;
  exportControl: ExportControl;
}

const bools = [false, true] as const;
const rows: Row[] = [];
for (const local_file_management of bools)
  for (const nersc of bools)
    for (const alcf of bools)
      for (const send_to_nersc of bools)
        for (const exportControl of ['none', 'flagged', 'pattern'] as const)
          rows.push({ local_file_management, nersc, alcf, send_to_nersc, exportControl });

function rowName(r: Row): string {
  const on = (flag: boolean, name: string): string => (flag ? name : `no-${name}`);
  return [
    on(r.local_file_management, 'local'),
    on(r.nersc, 'nersc'),
    on(r.alcf, 'alcf'),
    on(r.send_to_nersc, 'send'),
    `ec:${r.exportControl}`,
  ].join(' ');
}

/** The file each row dispatches: a pattern row uses a name `export_control.paths` matches. */
function rowRequest(r: Row): { path: string; relative: string; exportControlled?: boolean } {
  const relative =
    r.exportControl === 'pattern' ? 'raw/20240501_scan_EC.h5' : 'raw/20240501_scan.h5';
  return r.exportControl === 'flagged'
    ? { path: spot(relative), relative, exportControlled: true }
    : { path: spot(relative), relative };
}

/**
 * The rules of issue 7, written out independently of the code, for the example config, where
 * nersc832 (the home) and alcf832 are off-site and spot832, data832 on-site.
 */
function expected(r: Row): Omit<DispatchPlan, 'exportControl' | 'settings'> {
  const { relative } = rowRequest(r);
  const controlled = r.exportControl !== 'none';
  const sends = r.local_file_management && r.send_to_nersc && !controlled;
  const newFile: NewFilePlan | null = r.local_file_management
    ? {
        hops: [
          { from: 'spot832', to: 'data832', path: relative },
          ...(sends ? [{ from: 'data832', to: 'nersc832', path: relative }] : []),
        ],
        ingest: 'local',
        // Export-controlled files follow export_control.retention: data832 keeps them.
        retention: controlled
          ? [{ endpoint: 'spot832', path: relative, afterDays: 7 }]
          : [
              { endpoint: 'spot832', path: relative, afterDays: 7 },
              { endpoint: 'data832', path: relative, afterDays: 180 },
            ],
      }
    : null;
  const hpcFlows: HpcFlowPlan[] = [];
  const skipped: DispatchPlan['skipped'] = [];
  const warnings: string[] = [];
  if (!r.local_file_management) {
    skipped.push({ step: 'new_file', reason: 'decision.local_file_management is off' });
  } else if (!r.send_to_nersc) {
    skipped.push({ step: 'send_to_nersc', reason: 'send_to_nersc is off' });
  } else if (controlled) {
    skipped.push({
      step: 'send_to_nersc',
      reason: 'export-controlled data is never sent off-site (nersc832)',
    });
  }
  if (!r.nersc) skipped.push({ step: 'nersc', reason: 'decision.nersc is off' });
  else if (controlled) {
    skipped.push({
      step: 'nersc',
      reason: 'export-controlled data is never sent off-site (nersc832)',
    });
  } else {
    hpcFlows.push({
      site: 'nersc',
      endpoint: 'nersc832',
      input: { endpoint: 'nersc832', path: relative },
      inputPath: `endpoints/nersc832/${relative}`,
    });
    if (!sends) warnings.push(warningFor('nersc', 'nersc832'));
  }
  if (!r.alcf) skipped.push({ step: 'alcf', reason: 'decision.alcf is off' });
  else if (controlled) {
    skipped.push({
      step: 'alcf',
      reason: 'export-controlled data is never sent off-site (alcf832)',
    });
  } else {
    hpcFlows.push({
      site: 'alcf',
      endpoint: 'alcf832',
      input: { endpoint: 'data832', path: relative },
      inputPath: `endpoints/data832/${relative}`,
    });
    if (!r.local_file_management) warnings.push(warningFor('alcf', 'data832'));
  }
  return { file: { endpoint: 'spot832', path: relative }, newFile, hpcFlows, skipped, warnings };
}

function warningFor(site: string, endpoint: string): string {
  return `${site}: this plan does not put the file at ${endpoint}, where the flow reads it; it must be there already`;
}

function assertPlan(plan: DispatchPlan, r: Row): void {
  const { exportControl, settings, ...rest } = plan;
  assert.deepEqual(rest, expected(r));
  assert.equal(exportControl.controlled, r.exportControl !== 'none');
  assert.deepEqual(settings, {
    local_file_management: r.local_file_management,
    nersc: r.nersc,
    alcf: r.alcf,
    olcf: false,
    send_to_nersc: r.send_to_nersc,
  });
  // Never anything off-site for export-controlled data.
  if (exportControl.controlled) {
    const places = [
      ...(plan.newFile?.hops.map((h) => h.to) ?? []),
      ...plan.hpcFlows.flatMap((f) => [f.endpoint, f.input.endpoint]),
    ];
    for (const place of places) assert.equal(example.endpoints[place]?.offsite, false, place);
  }
}

describe('planDispatch: every combination, settings from the config', () => {
  assert.equal(rows.length, 48);
  for (const r of rows) {
    it(rowName(r), () => {
      const { local_file_management, nersc, alcf, send_to_nersc } = r;
      const config = withDecision({ local_file_management, nersc, alcf, send_to_nersc });
      const { path, exportControlled } = rowRequest(r);
      const request: DispatchRequest =
        exportControlled === undefined ? { path } : { path, exportControlled };
      assertPlan(planDispatch(config, request), r);
    });
  }
});

describe('planDispatch: every combination, settings from overrides (config says the opposite)', () => {
  for (const r of rows) {
    it(rowName(r), () => {
      const config = withDecision({
        local_file_management: r.local_file_management,
        nersc: !r.nersc,
        alcf: !r.alcf,
        send_to_nersc: !r.send_to_nersc,
      });
      const { path, exportControlled } = rowRequest(r);
      const request: DispatchRequest = {
        path,
        ...(exportControlled === undefined ? {} : { exportControlled }),
        overrides: { send_to_nersc: r.send_to_nersc, nersc: r.nersc, alcf: r.alcf },
      };
      const controlled = r.exportControl !== 'none';
      // An override that explicitly asks for what cannot happen is refused, naming it.
      let refusal: [string, 'validation' | 'forbidden'] | undefined;
      if (!r.local_file_management && r.send_to_nersc) {
        refusal = ['overrides.send_to_nersc', 'validation'];
      } else if (controlled && r.send_to_nersc) refusal = ['overrides.send_to_nersc', 'forbidden'];
      else if (controlled && r.nersc) refusal = ['overrides.nersc', 'forbidden'];
      else if (controlled && r.alcf) refusal = ['overrides.alcf', 'forbidden'];
      if (refusal === undefined) {
        assertPlan(planDispatch(config, request), r);
      } else {
        const e = expectBatonError(() => planDispatch(config, request), refusal[1]);
        assert.equal(e.field, refusal[0]);
      }
    });
  }
});

// ---- single cases ---------------------------------------------------------------------------

describe('planDispatch: export control', () => {
  it('a request cannot clear a config pattern, and the reasons say why', () => {
    const plan = planDispatch(example, {
      path: spot('restricted/a/scan.h5'),
      exportControlled: false,
    });
    assert.equal(plan.exportControl.controlled, true);
    assert.deepEqual(plan.exportControl.reasons, [
      'export_control.paths matches "restricted/**"',
      'the request said it is not, but a config pattern cannot be overridden',
    ]);
    assert.deepEqual(
      plan.newFile?.hops.map((h) => h.to),
      ['data832'],
    );
  });

  it('uses retention for export-controlled files when export_control.retention is not set', () => {
    const config: BeamlineConfig = {
      ...example,
      export_control: { ...example.export_control, retention: undefined },
    };
    const plan = planDispatch(config, { path: spot('raw/a.h5'), exportControlled: true });
    assert.deepEqual(
      plan.newFile?.retention.map((e) => [e.endpoint, e.afterDays]),
      [
        ['spot832', 7],
        ['data832', 180],
      ],
    );
  });

  it('sends export-controlled data to an on-site NERSC endpoint', () => {
    const config: BeamlineConfig = {
      ...example,
      endpoints: {
        ...example.endpoints,
        nersc832: { ...example.endpoints.nersc832!, offsite: false },
      },
    };
    const plan = planDispatch(config, { path: spot('raw/a.h5'), exportControlled: true });
    assert.deepEqual(
      plan.newFile?.hops.map((h) => h.to),
      ['data832', 'nersc832'],
    );
    assert.deepEqual(
      plan.hpcFlows.map((f) => f.site),
      ['nersc'],
    );
  });
});

describe('planDispatch: where the file is', () => {
  it('re-dispatching a file already in beamline storage skips the first hop', () => {
    const plan = planDispatch(example, { path: 'endpoints/data832/raw/a.h5' });
    assert.deepEqual(plan.file, { endpoint: 'data832', path: 'raw/a.h5' });
    assert.deepEqual(plan.newFile?.hops, [{ from: 'data832', to: 'nersc832', path: 'raw/a.h5' }]);
    assert.deepEqual(plan.newFile?.retention, [
      { endpoint: 'data832', path: 'raw/a.h5', afterDays: 180 },
    ]);
    assert.deepEqual(plan.warnings, []);
  });

  it('normalises the path before matching', () => {
    const plan = planDispatch(example, { path: 'landing//bl832/./raw/a.h5' });
    assert.deepEqual(plan.file, { endpoint: 'spot832', path: 'raw/a.h5' });
  });

  const refused: Array<[string, string, RegExp]> = [
    ['landing/bl832/../data832/a.h5', 'path', /must not contain \.\./],
    ['../landing/bl832/a.h5', 'path', /must not contain \.\./],
    ['/landing/bl832/a.h5', 'path', /is not inside any endpoint's root/],
    ['/etc/passwd', 'path', /is not inside any endpoint's root/],
    ['landing/bl8320/a.h5', 'path', /is not inside any endpoint's root/],
    ['landing/bl832', 'path', /is the root of spot832/],
    ['landing/bl832/', 'path', /is the root of spot832/],
    [
      'endpoints/nersc832/raw/a.h5',
      'path',
      /is in nersc832; new files are dispatched from spot832/,
    ],
    ['landing\\bl832\\a.h5', 'path', /must use \/ as separator/],
    ['', 'path', /must not be empty/],
  ];
  for (const [path, field, why] of refused) {
    it(`refuses ${JSON.stringify(path)}`, () => {
      const e = expectBatonError(() => planDispatch(example, { path }));
      assert.equal(e.field, field);
      assert.match(e.message, why);
    });
  }

  it('an explicit endpoint settles roots that coincide', () => {
    const collection = (n: number): string => `9c5f8e2a-1b7d-4a3e-9f10-2d6c8b4e7a0${n}`;
    const config: BeamlineConfig = {
      ...example,
      endpoints: {
        ...example.endpoints,
        spot832: {
          ...example.endpoints.spot832!,
          kind: 'globus',
          root: '/data',
          collection: collection(1),
        },
        data832: {
          ...example.endpoints.data832!,
          kind: 'globus',
          root: '/data',
          collection: collection(2),
        },
      },
    };
    const e = expectBatonError(() => planDispatch(config, { path: '/data/raw/a.h5' }));
    assert.equal(e.field, 'path');
    assert.match(e.message, /inside spot832 and data832 alike; name one with endpoint/);
    const plan = planDispatch(config, { path: '/data/raw/a.h5', endpoint: 'data832' });
    assert.deepEqual(plan.file, { endpoint: 'data832', path: 'raw/a.h5' });
    const outside = expectBatonError(() =>
      planDispatch(config, { path: 'endpoints/alcf832/a.h5', endpoint: 'spot832' }),
    );
    assert.equal(outside.field, 'path');
    const unknown = expectBatonError(() =>
      planDispatch(config, { path: '/data/a.h5', endpoint: 'constructor' }),
    );
    assert.equal(unknown.field, 'endpoint');
  });

  it('prefers the deepest root containing the path', () => {
    const config: BeamlineConfig = {
      ...example,
      endpoints: {
        ...example.endpoints,
        spot832: { ...example.endpoints.spot832!, root: 'endpoints' },
      },
    };
    assert.equal(planDispatch(config, { path: 'endpoints/data832/a.h5' }).file.endpoint, 'data832');
    assert.equal(planDispatch(config, { path: 'endpoints/other/a.h5' }).file.endpoint, 'spot832');
  });
});

describe('planDispatch: the request', () => {
  const bad: Array<[unknown, string, RegExp]> = [
    [{ path: spot('a.h5'), extra: 1 }, 'extra', /unknown key/],
    [
      { path: spot('a.h5'), overrides: { nersc: 'yes' } },
      'overrides.nersc',
      /expected boolean, got string/,
    ],
    [{ path: spot('a.h5'), overrides: { olcf: true } }, 'overrides.olcf', /unknown key/],
    [{ path: spot('a.h5'), exportControlled: 1 }, 'exportControlled', /expected boolean/],
    [{}, 'path', /required/],
    ['endpoints/spot832/a.h5', 'request', /expected object, got string/],
  ];
  for (const [request, field, why] of bad) {
    it(`refuses ${JSON.stringify(request)}`, () => {
      const e = expectBatonError(() => planDispatch(example, request));
      assert.equal(e.field, field);
      assert.match(e.message, why);
    });
  }

  it('refuses an override that turns on a site the config lacks', () => {
    const config: BeamlineConfig = { ...example, hpc: { ...example.hpc, alcf: undefined } };
    const e = expectBatonError(() =>
      planDispatch(config, { path: spot('a.h5'), overrides: { alcf: true } }),
    );
    assert.equal(e.field, 'overrides.alcf');
    assert.match(e.message, /hpc\.alcf is not configured/);
    const noNersc: BeamlineConfig = {
      ...withDecision({ send_to_nersc: false }),
      new_file: { ...example.new_file, nersc: undefined },
    };
    const e2 = expectBatonError(() =>
      planDispatch(noNersc, { path: spot('a.h5'), overrides: { send_to_nersc: true } }),
    );
    assert.equal(e2.field, 'overrides.send_to_nersc');
  });

  it('reports OLCF as not implemented when turned on', () => {
    const config: BeamlineConfig = {
      ...withDecision({ olcf: true }),
      hpc: { ...example.hpc, olcf: {} },
    };
    const plan = planDispatch(config, { path: spot('a.h5') });
    assert.deepEqual(plan.skipped.at(-1), { step: 'olcf', reason: 'OLCF is not implemented' });
    assert.deepEqual(
      plan.hpcFlows.map((f) => f.site),
      ['nersc'],
    );
  });

  it('ingests into the configured catalogue', () => {
    const config: BeamlineConfig = {
      ...example,
      catalogue: { kind: 'scicat', url: 'https://scicat.example.org/api/v3' },
    };
    assert.equal(planDispatch(config, { path: spot('a.h5') }).newFile?.ingest, 'scicat');
  });
});
