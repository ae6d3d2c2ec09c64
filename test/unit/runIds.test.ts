import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { newRunId, runIdSchema } from '../../shared/domain/runIds.js';

const runs = { numRuns: 200 };
const accepts = (id: string): boolean => runIdSchema.safeParse(id).success;

const hex6 = fc.stringMatching(/^[0-9a-f]{6}$/);
const hexAny = fc.stringMatching(/^[0-9a-f]{6,32}$/);
// Four-digit years only: the stamp is fixed width (yyyymmddthhmmss) there.
const dates = fc.date({
  min: new Date('1970-01-01T00:00:00Z'),
  max: new Date('9999-12-31T23:59:59Z'),
  noInvalidDate: true,
});
const pipelines = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,50}$/),
);

describe('runIdSchema', () => {
  it('accepts letters, digits, _ and -, starting with a letter or digit', () => {
    for (const id of ['a', 'Z', '7', 'etl-20240101T000000-abcdef', 'A_b-C_9', 'x'.repeat(80)]) {
      assert.ok(accepts(id), id);
    }
  });

  it('rejects empty, over-long and badly started ids', () => {
    for (const id of ['', '-a', '_a', 'x'.repeat(81)]) assert.ok(!accepts(id), JSON.stringify(id));
  });

  it('rejects separators and traversal characters', () => {
    for (const id of [
      'a:b',
      'parent:1',
      'a/b',
      '..',
      'a..b',
      '../x',
      'a b',
      ' a',
      'a ',
      'a.b',
      'a\\b',
      'a\nb',
      'é',
      'a%2f',
    ]) {
      assert.ok(!accepts(id), JSON.stringify(id));
    }
  });

  it('property: inserting any forbidden character into a valid id makes it invalid', () => {
    const valid = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,60}$/);
    const bad = fc.constantFrom(':', '/', '..', ' ', '\\', '.', '\t', '?', '#', '%');
    fc.assert(
      fc.property(valid, bad, fc.nat(), (id, b, at) => {
        assert.ok(accepts(id), id);
        const i = at % (id.length + 1);
        const broken = id.slice(0, i) + b + id.slice(i);
        assert.ok(!accepts(broken), JSON.stringify(broken));
      }),
      runs,
    );
  });
});

describe('newRunId', () => {
  it('is <pipeline>-<yyyymmddthhmmss>-<6 hex> in UTC', () => {
    const id = newRunId('My Pipeline!', new Date('2024-03-05T07:08:09.123Z'), 'abcdef0123');
    assert.equal(id, 'my-pipeline-20240305t070809-abcdef');
  });

  it('falls back to "run" when the pipeline name has no usable characters', () => {
    assert.equal(
      newRunId('***', new Date('2024-01-02T03:04:05Z'), '000000'),
      'run-20240102t030405-000000',
    );
    assert.equal(
      newRunId('', new Date('2024-01-02T03:04:05Z'), '000000'),
      'run-20240102t030405-000000',
    );
  });

  it('property: generated ids always pass the schema and have the documented shape', () => {
    fc.assert(
      fc.property(pipelines, dates, hexAny, (pipeline, now, hex) => {
        const id = newRunId(pipeline, now, hex);
        assert.ok(accepts(id), id);
        assert.match(id, /^[a-z0-9-]+-\d{8}t\d{6}-[0-9a-f]{6}$/);
        assert.ok(id.endsWith(`-${hex.slice(0, 6)}`), id);
        const prefix = id.slice(0, id.length - '-yyyymmddthhmmss-abcdef'.length);
        assert.ok(prefix.length >= 1 && prefix.length <= 40, prefix);
      }),
      runs,
    );
  });

  it('property: for one pipeline, ids sort by time (to the second)', () => {
    fc.assert(
      fc.property(pipelines, dates, dates, hex6, hex6, (pipeline, a, b, hexA, hexB) => {
        const secA = Math.floor(a.getTime() / 1000);
        const secB = Math.floor(b.getTime() / 1000);
        fc.pre(secA !== secB);
        const idA = newRunId(pipeline, a, hexA);
        const idB = newRunId(pipeline, b, hexB);
        assert.equal(idA < idB, secA < secB, `${idA} vs ${idB}`);
      }),
      runs,
    );
  });

  it('the pipeline part never ends in "-" after truncation (no "--" before the stamp)', () => {
    // e.g. 39 letters, a space, more letters: the 40th character becomes '-'.
    const id = newRunId(`${'a'.repeat(39)} tail`, new Date('2024-01-02T03:04:05Z'), 'abcdef');
    assert.ok(!id.includes('--'), id);
  });
});
