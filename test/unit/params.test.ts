import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseParams } from '../../shared/cli/params.js';
import { expectBatonError } from './batonErrorAssert.js';

describe('parseParams: -p key=value', () => {
  it('parses JSON scalars and arrays, keeps other text as a string', () => {
    assert.deepEqual(parseParams(['count=3'], undefined), { count: 3 });
    assert.deepEqual(parseParams(['ratio=-0.25'], undefined), { ratio: -0.25 });
    assert.deepEqual(parseParams(['name=abc'], undefined), { name: 'abc' });
    assert.deepEqual(parseParams(['flag=true', 'off=false'], undefined), {
      flag: true,
      off: false,
    });
    assert.deepEqual(parseParams(['list=[1,2]'], undefined), { list: [1, 2] });
    assert.deepEqual(parseParams(['obj={"a":{"b":1}}'], undefined), { obj: { a: { b: 1 } } });
    assert.deepEqual(parseParams(['nothing=null'], undefined), { nothing: null });
    assert.deepEqual(parseParams(['quoted="3"'], undefined), { quoted: '3' });
  });

  it('keeps text that is not JSON verbatim (leading zeros, partial JSON, empty)', () => {
    assert.deepEqual(parseParams(['zip=007', 'bad=[1,', 'empty=', 'date=2024-01-01'], undefined), {
      zip: '007',
      bad: '[1,',
      empty: '',
      date: '2024-01-01',
    });
  });

  it('splits on the first = only', () => {
    assert.deepEqual(parseParams(['expr=a=b=c'], undefined), { expr: 'a=b=c' });
  });

  it('a later -p for the same key wins', () => {
    assert.deepEqual(parseParams(['n=1', 'n=2'], undefined), { n: 2 });
  });

  it('returns an empty object when nothing is given', () => {
    assert.deepEqual(parseParams([], undefined), {});
  });

  it('rejects a pair without key or = and names --param', () => {
    for (const bad of ['novalue', '=3', '']) {
      const e = expectBatonError(() => parseParams([bad], undefined));
      assert.equal(e.field, '--param', bad);
      assert.ok(e.message.startsWith('--param'), e.message);
      assert.ok(e.message.includes(`"${bad}"`), e.message);
    }
  });

  it('property: any JSON value given as text comes back as that value', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z_][a-z0-9_.]{0,10}$/), fc.jsonValue(), (key, value) => {
        const text = JSON.stringify(value);
        const expected = JSON.parse(text) as unknown;
        assert.deepEqual(parseParams([`${key}=${text}`], undefined), { [key]: expected });
      }),
      { numRuns: 200 },
    );
  });

  it('property: text that is not JSON stays the exact string', () => {
    const notJson = fc.string().filter((s) => {
      try {
        JSON.parse(s);
        return false;
      } catch {
        return true;
      }
    });
    fc.assert(
      fc.property(notJson, (raw) => {
        assert.deepEqual(parseParams([`k=${raw}`], undefined), { k: raw });
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a key named __proto__ as a parameter instead of changing the prototype', () => {
    const p = parseParams(['__proto__={"admin":true}'], undefined);
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.ok(Object.hasOwn(p, '__proto__'));
  });
});

describe('parseParams: --params', () => {
  it('takes a JSON object', () => {
    assert.deepEqual(parseParams([], '{"count":3,"tags":["a"]}'), { count: 3, tags: ['a'] });
  });

  it('merges with -p, -p overriding', () => {
    assert.deepEqual(parseParams(['count=5', 'extra=x'], '{"count":3,"keep":true}'), {
      count: 5,
      keep: true,
      extra: 'x',
    });
  });

  it('does not mutate anything shared between calls', () => {
    const json = '{"a":1}';
    parseParams(['a=2'], json);
    assert.deepEqual(parseParams([], json), { a: 1 });
  });

  it('rejects invalid JSON naming --params', () => {
    const e = expectBatonError(() => parseParams([], '{count: 3}'));
    assert.equal(e.field, '--params');
    assert.ok(e.message.startsWith('--params'), e.message);
  });

  it('rejects JSON that is not an object naming --params', () => {
    for (const text of ['[1,2]', 'null', '3', '"s"', 'true']) {
      const e = expectBatonError(() => parseParams([], text));
      assert.equal(e.field, '--params', text);
    }
  });

  it('checks --params before the -p pairs', () => {
    assert.equal(expectBatonError(() => parseParams(['bad'], 'nope')).field, '--params');
  });
});
