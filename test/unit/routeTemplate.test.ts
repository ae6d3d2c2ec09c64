import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileRoute, matchRoute } from '../../shared/runtime/routeTemplate.js';

const match = (template: string, path: string): Record<string, string> | undefined =>
  matchRoute(compileRoute(template), path);

/** The dispatcher's rule: highest specificity first, registration order among equals. */
function pick(templates: string[], path: string): string | undefined {
  const routes = templates.map(compileRoute).sort((a, b) => b.specificity - a.specificity);
  return routes.find((r) => matchRoute(r, path) !== undefined)?.template;
}

describe('matchRoute: literals', () => {
  it('matches literals case-insensitively with no params', () => {
    assert.deepEqual(match('runs/list', 'RUNS/List'), {});
    assert.deepEqual(match('Runs', 'runs'), {});
  });

  it('ignores leading, trailing and doubled slashes', () => {
    assert.deepEqual(match('runs/list', '/runs/list/'), {});
    assert.deepEqual(match('/runs/list/', 'runs//list'), {});
  });

  it('never matches partially', () => {
    assert.equal(match('runs', 'runs/extra'), undefined);
    assert.equal(match('runs/list', 'runs'), undefined);
    assert.equal(match('runs/list', 'runs/lis'), undefined);
    assert.equal(match('runs/list', 'runs/listing'), undefined);
    assert.equal(match('runs/list', 'xruns/list'), undefined);
  });
});

describe('matchRoute: parameters', () => {
  it('captures and URL-decodes a parameter, keeping its case', () => {
    assert.deepEqual(match('runs/{runId}', 'runs/ETL-1'), { runId: 'ETL-1' });
    assert.deepEqual(match('files/{name}/meta', 'files/a%20b%2Fc/meta'), { name: 'a b/c' });
  });

  it('leaves a malformed escape as it is', () => {
    assert.deepEqual(match('files/{name}', 'files/100%'), { name: '100%' });
    assert.deepEqual(match('files/{name}', 'files/%E0%A4%A'), { name: '%E0%A4%A' });
  });

  it('requires a non-optional parameter', () => {
    assert.equal(match('runs/{runId}', 'runs'), undefined);
    assert.equal(match('runs/{runId}', 'runs/'), undefined);
  });

  it('an optional parameter may be absent', () => {
    assert.deepEqual(match('runs/{runId?}', 'runs'), {});
    assert.deepEqual(match('runs/{runId?}', 'runs/r1'), { runId: 'r1' });
    assert.equal(match('runs/{runId?}', 'runs/r1/x'), undefined);
  });

  it('a catch-all takes the rest of the path, decoded, possibly empty', () => {
    assert.deepEqual(match('files/{*rest}', 'files/a/b%20c/d.csv'), { rest: 'a/b c/d.csv' });
    assert.deepEqual(match('files/{*rest}', 'files/one'), { rest: 'one' });
    assert.deepEqual(match('files/{*rest}', 'files'), { rest: '' });
    assert.equal(match('files/{*rest}', 'other/a'), undefined);
  });

  it('the int constraint accepts only integers', () => {
    assert.deepEqual(match('items/{id:int}', 'items/42'), { id: '42' });
    assert.deepEqual(match('items/{id:int}', 'items/-7'), { id: '-7' });
    for (const bad of ['abc', '4.2', '42a', '%20', '1e3']) {
      assert.equal(match('items/{id:int}', `items/${bad}`), undefined, bad);
    }
    assert.deepEqual(match('items/{id:int?}', 'items'), {});
    assert.equal(match('items/{id:int?}', 'items/x'), undefined);
  });

  it('several parameters in one template', () => {
    assert.deepEqual(match('runs/{runId}/steps/{step:int}', 'runs/r1/STEPS/3'), {
      runId: 'r1',
      step: '3',
    });
  });

  it('a segment that is not a whole {param} is a literal', () => {
    assert.deepEqual(match('files/{name}.csv', 'files/{NAME}.CSV'), {});
    assert.equal(match('files/{name}.csv', 'files/a.csv'), undefined);
  });

  it('property: a parameter captures any single segment, decoded', () => {
    const value = fc.string({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(value, (v) => {
        assert.deepEqual(match('runs/{runId}/logs', `runs/${encodeURIComponent(v)}/logs`), {
          runId: v,
        });
      }),
      { numRuns: 200 },
    );
  });

  it('property: a catch-all captures any sequence of segments', () => {
    const seg = fc.string({ minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 6 }), (segs) => {
        const path = ['files', ...segs.map(encodeURIComponent)].join('/');
        assert.deepEqual(match('files/{*rest}', path), { rest: segs.join('/') });
      }),
      { numRuns: 200 },
    );
  });
});

describe('compileRoute: specificity ordering', () => {
  it('a literal segment beats a parameter', () => {
    assert.ok(compileRoute('runs/latest').specificity > compileRoute('runs/{runId}').specificity);
    assert.ok(
      compileRoute('runs/{runId}/logs').specificity >
        compileRoute('runs/{runId}/{part}').specificity,
    );
  });

  it('the literal route wins whichever is registered first', () => {
    assert.equal(pick(['runs/{runId}', 'runs/latest'], 'runs/latest'), 'runs/latest');
    assert.equal(pick(['runs/latest', 'runs/{runId}'], 'runs/latest'), 'runs/latest');
    assert.equal(pick(['runs/{runId}', 'runs/latest'], 'runs/r1'), 'runs/{runId}');
    assert.equal(pick(['files/{*rest}', 'files/{a}/meta'], 'files/x/meta'), 'files/{a}/meta');
  });

  it('an exact literal route beats an optional parameter or catch-all that also matches', () => {
    assert.equal(pick(['runs/{id?}', 'runs'], 'runs'), 'runs');
    assert.equal(pick(['files/{*rest}', 'files'], 'files'), 'files');
  });

  it('a constrained parameter beats an unconstrained one whichever is registered first', () => {
    assert.equal(pick(['items/{name}', 'items/{id:int}'], 'items/5'), 'items/{id:int}');
  });
});
