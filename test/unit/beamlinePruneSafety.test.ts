import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseBeamlineConfig, type BeamlineConfig } from '../../shared/domain/beamline/config.js';
import {
  auditRecord,
  decidePrune,
  type ObservedCopy,
  type PruneCandidate,
  type PruneDecision,
  type PruneRefusal,
} from '../../shared/domain/beamline/pruneSafety.js';
import { expectBatonError } from './batonErrorAssert.js';

// The example: spot832, data832 on-site; nersc832 (the home) and alcf832 off-site.
const config = parseBeamlineConfig(
  readFileSync(new URL('../../examples/beamline/beamline.yaml', import.meta.url), 'utf8'),
  'beamline.yaml',
);
const sum = 'sha256:3f7a';
const other = 'sha256:9b21';
const path = 'raw/20240501_scan.h5';

function candidate(endpoint: string, patch: Partial<PruneCandidate> = {}): PruneCandidate {
  return { endpoint, path, checksum: sum, exportControlled: false, ...patch };
}

function copy(endpoint: string, patch: Partial<ObservedCopy> = {}): ObservedCopy {
  return { endpoint, path, checksum: sum, dueForDeletion: false, ...patch };
}

function expectRefusal(decision: PruneDecision, refusal: PruneRefusal, why?: RegExp): void {
  assert.equal(decision.verdict, 'refuse', JSON.stringify(decision));
  if (decision.verdict !== 'refuse') return;
  assert.equal(decision.refusal, refusal);
  if (why) assert.match(decision.reason, why);
}

function expectSurvivor(decision: PruneDecision, endpoint: string): void {
  assert.equal(decision.verdict, 'delete', JSON.stringify(decision));
  if (decision.verdict === 'delete') assert.equal(decision.survivor.endpoint, endpoint);
}

describe('decidePrune: refusals', () => {
  it('no surviving copy: refuse', () => {
    expectRefusal(decidePrune(candidate('spot832'), [], config), 'no_other_copy');
    // A copy at the same endpoint (another path) is the same storage: it does not count.
    expectRefusal(
      decidePrune(candidate('spot832'), [copy('spot832', { path: 'backup/scan.h5' })], config),
      'no_other_copy',
    );
    // Nor does a copy at an endpoint the config does not know.
    expectRefusal(decidePrune(candidate('spot832'), [copy('tape')], config), 'no_other_copy');
  });

  it('the only matching copy is due itself: refuse', () => {
    expectRefusal(
      decidePrune(candidate('spot832'), [copy('data832', { dueForDeletion: true })], config),
      'survivor_due',
      /data832/,
    );
  });

  it('two due copies never vouch for each other', () => {
    const spot = copy('spot832', { dueForDeletion: true });
    const data = copy('data832', { dueForDeletion: true });
    expectRefusal(decidePrune(candidate('spot832'), [spot, data], config), 'survivor_due');
    expectRefusal(decidePrune(candidate('data832'), [spot, data], config), 'survivor_due');
  });

  it('checksum mismatch: refuse', () => {
    expectRefusal(
      decidePrune(candidate('spot832'), [copy('data832', { checksum: other })], config),
      'checksum_mismatch',
      /data832/,
    );
    // Same digest, other algorithm: not the same checksum.
    expectRefusal(
      decidePrune(candidate('spot832'), [copy('data832', { checksum: 'md5:3f7a' })], config),
      'checksum_mismatch',
    );
  });

  it('a candidate without checksum is refused even when copies have none either', () => {
    expectRefusal(
      decidePrune(
        candidate('spot832', { checksum: '' }),
        [copy('data832', { checksum: '' })],
        config,
      ),
      'missing_checksum',
    );
  });

  it('the home is never pruned, whatever copies exist', () => {
    expectRefusal(
      decidePrune(candidate('nersc832'), [copy('data832'), copy('spot832')], config),
      'home_endpoint',
      /nersc832 is the raw data's home/,
    );
  });

  it('an endpoint the config does not know is refused', () => {
    expectRefusal(
      decidePrune(candidate('constructor'), [copy('data832')], config),
      'unknown_endpoint',
    );
  });
});

describe('decidePrune: deletions', () => {
  it('deletes when another endpoint holds the same checksum and is not due', () => {
    const decision = decidePrune(
      candidate('spot832'),
      [copy('spot832'), copy('data832', { path: 'moved/scan.h5' })],
      config,
    );
    assert.deepEqual(decision, {
      verdict: 'delete',
      survivor: copy('data832', { path: 'moved/scan.h5' }),
    });
  });

  it('names the home first, then on-site copies, then by name', () => {
    const copies = [copy('alcf832'), copy('data832'), copy('nersc832')];
    expectSurvivor(decidePrune(candidate('spot832'), copies, config), 'nersc832');
    expectSurvivor(decidePrune(candidate('spot832'), copies.slice(0, 2), config), 'data832');
    expectSurvivor(decidePrune(candidate('data832'), [copy('alcf832')], config), 'alcf832');
    // Skips a due or mismatching copy and finds the one that stands.
    expectSurvivor(
      decidePrune(
        candidate('spot832'),
        [
          copy('nersc832', { checksum: other }),
          copy('data832', { dueForDeletion: true }),
          copy('alcf832'),
        ],
        config,
      ),
      'alcf832',
    );
  });
});

describe('decidePrune: export-controlled data', () => {
  it('is pruned when an on-site copy survives', () => {
    expectSurvivor(
      decidePrune(candidate('spot832', { exportControlled: true }), [copy('data832')], config),
      'data832',
    );
  });

  it('never counts an off-site copy, even the home', () => {
    expectRefusal(
      decidePrune(
        candidate('data832', { exportControlled: true }),
        [copy('nersc832'), copy('alcf832')],
        config,
      ),
      'offsite_only',
      /on-site copy must remain/,
    );
  });

  it('an off-site copy of export-controlled data may go once an on-site copy stands', () => {
    expectSurvivor(
      decidePrune(candidate('alcf832', { exportControlled: true }), [copy('data832')], config),
      'data832',
    );
    expectRefusal(
      decidePrune(candidate('alcf832', { exportControlled: true }), [copy('nersc832')], config),
      'offsite_only',
    );
  });
});

describe('decidePrune: properties', () => {
  const endpoints = [...Object.keys(config.endpoints), 'tape'];
  const endpointArb = fc.constantFrom(...endpoints);
  const checksumArb = fc.constantFrom('sha256:a', 'sha256:b', 'md5:a', '');
  const candidateArb = fc.record({
    endpoint: endpointArb,
    path: fc.constantFrom('raw/a.h5', 'raw/b.h5'),
    checksum: checksumArb,
    exportControlled: fc.boolean(),
  });
  const copyArb = fc.record({
    endpoint: endpointArb,
    path: fc.constantFrom('raw/a.h5', 'raw/b.h5', 'other/a.h5'),
    checksum: checksumArb,
    dueForDeletion: fc.boolean(),
  });
  const inputs = fc.tuple(candidateArb, fc.array(copyArb, { maxLength: 8 }));

  /** Whether a copy may stand for the candidate, straight from the rules. */
  function qualifies(c: PruneCandidate, o: ObservedCopy, cfg: BeamlineConfig): boolean {
    const at = Object.hasOwn(cfg.endpoints, o.endpoint) ? cfg.endpoints[o.endpoint] : undefined;
    return (
      at !== undefined &&
      o.endpoint !== c.endpoint &&
      c.checksum !== '' &&
      o.checksum === c.checksum &&
      !o.dueForDeletion &&
      !(c.exportControlled && at.offsite)
    );
  }

  it('a delete verdict always names a qualifying survivor from the copies given', () => {
    fc.assert(
      fc.property(inputs, ([c, copies]) => {
        const decision = decidePrune(c, copies, config);
        if (decision.verdict !== 'delete') return;
        const s = decision.survivor;
        assert.equal(s.checksum, c.checksum);
        assert.notEqual(s.endpoint, c.endpoint);
        assert.equal(s.dueForDeletion, false);
        assert.ok(config.endpoints[s.endpoint], s.endpoint);
        if (c.exportControlled) assert.equal(config.endpoints[s.endpoint]?.offsite, false);
        assert.equal(config.endpoints[c.endpoint]?.home, false);
        assert.ok(copies.some((o) => JSON.stringify(o) === JSON.stringify(s)));
      }),
      { seed: 20250107, numRuns: 3000 },
    );
  });

  it('refuses exactly when no copy qualifies or its endpoint is the home or unknown', () => {
    fc.assert(
      fc.property(inputs, ([c, copies]) => {
        const decision = decidePrune(c, copies, config);
        const at = Object.hasOwn(config.endpoints, c.endpoint)
          ? config.endpoints[c.endpoint]
          : undefined;
        const prunable = at !== undefined && !at.home;
        const any = copies.some((o) => qualifies(c, o, config));
        assert.equal(decision.verdict === 'delete', any && prunable, JSON.stringify({ c, copies }));
      }),
      { seed: 20250107, numRuns: 3000 },
    );
  });

  it('does not depend on the order of the copies', () => {
    fc.assert(
      fc.property(inputs, fc.nat(), ([c, copies], shift) => {
        const k = copies.length === 0 ? 0 : shift % copies.length;
        const rotated = [...copies.slice(k), ...copies.slice(0, k)];
        assert.deepEqual(decidePrune(c, rotated, config), decidePrune(c, copies, config));
      }),
      { seed: 20250107, numRuns: 1000 },
    );
  });
});

describe('auditRecord', () => {
  const at = new Date('2024-05-08T03:00:00Z');

  it('records who deleted what, its checksum and where the surviving copy is', () => {
    const c = candidate('spot832');
    const decision = decidePrune(c, [copy('data832')], config);
    assert.deepEqual(auditRecord({ who: 'pruner', at, candidate: c, decision }), {
      at: '2024-05-08T03:00:00.000Z',
      who: 'pruner',
      action: 'deleted',
      endpoint: 'spot832',
      path,
      checksum: sum,
      exportControlled: false,
      survivor: { endpoint: 'data832', path, checksum: sum },
    });
    assert.equal(
      auditRecord({ who: 'alice', at, candidate: c, decision, dryRun: true }).action,
      'would-delete',
    );
  });

  it('records why a prune was refused', () => {
    const c = candidate('spot832', { exportControlled: true });
    const decision = decidePrune(c, [copy('nersc832')], config);
    const record = auditRecord({ who: 'pruner', at, candidate: c, decision, dryRun: true });
    assert.equal(record.action, 'refused');
    assert.equal(record.survivor, undefined);
    assert.equal(record.refusal?.code, 'offsite_only');
    assert.equal(record.exportControlled, true);
  });

  it('needs who', () => {
    const c = candidate('spot832');
    const decision = decidePrune(c, [], config);
    expectBatonError(() => auditRecord({ who: ' ', at, candidate: c, decision }), 'internal');
  });
});
