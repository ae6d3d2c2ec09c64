import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  entryMatchesModelYear,
  modelYearSchema,
  parseModelYear,
} from '../../shared/domain/landuse.js';
import { expectBatonError } from './batonErrorAssert.js';

const runs = { numRuns: 300 };
const year = fc.integer({ min: 1900, max: 2200 });
// Path text without digits: letters, separators and punctuation seen in real archive names.
const noDigits = fc.string({ unit: fc.constantFrom(...'abLUtaz_-./ ()'.split('')), maxLength: 12 });
const digit = fc.constantFrom(...'0123456789'.split(''));

describe('entryMatchesModelYear', () => {
  it('matches the year as a folder, a suffix, or a token between separators', () => {
    for (const name of [
      '2017/landuse.csv',
      'landuse_2017.csv',
      'lu-2017-taz.csv',
      'data/LU2017.dbf',
      'scenario/2017/zones/taz.csv',
      '2017.csv',
    ]) {
      assert.equal(entryMatchesModelYear(name, 2017), true, name);
    }
  });

  it('does not match a longer number, another year, folders or macOS resource forks', () => {
    for (const name of [
      '20170.csv',
      '12017/x.csv',
      '2018/landuse.csv',
      'landuse_2018.csv',
      'landuse.csv',
      '2017/',
      '__MACOSX/2017/._landuse.csv',
    ]) {
      assert.equal(entryMatchesModelYear(name, 2017), false, name);
    }
  });

  it('property: the year surrounded by non-digits always matches', () => {
    fc.assert(
      fc.property(year, noDigits, noDigits, (y, before, after) => {
        const name = `${before}${y}${after}`;
        fc.pre(!name.endsWith('/') && !name.startsWith('__MACOSX'));
        return entryMatchesModelYear(name, y);
      }),
      runs,
    );
  });

  it('property: the year glued to another digit never matches', () => {
    fc.assert(
      fc.property(year, noDigits, noDigits, digit, fc.boolean(), (y, before, after, d, lead) => {
        const name = lead ? `${before}${d}${y}${after}` : `${before}${y}${d}${after}`;
        return !entryMatchesModelYear(name, y);
      }),
      runs,
    );
  });

  it('property: a path naming only another year does not match', () => {
    fc.assert(
      fc.property(year, year, noDigits, noDigits, (y, other, before, after) => {
        fc.pre(y !== other);
        return !entryMatchesModelYear(`${before}${other}${after}`, y);
      }),
      runs,
    );
  });
});

describe('modelYearSchema / parseModelYear', () => {
  it('accepts 1900..2200 as a number or digit text', () => {
    assert.equal(modelYearSchema.parse(1900), 1900);
    assert.equal(modelYearSchema.parse(2200), 2200);
    assert.equal(parseModelYear('2017'), 2017);
    assert.equal(parseModelYear(2017), 2017);
  });

  it('refuses out-of-range, fractional and non-numeric years naming the field', () => {
    for (const bad of [1899, 2201, 2017.5, '20x7', '', null, Number.NaN]) {
      const error = expectBatonError(() => parseModelYear(bad, '--model-year'));
      assert.equal(error.field, '--model-year');
    }
  });
});
