import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkArgv, checkEnv, hasLoneSurrogate } from '../../shared/domain/jobSpec.js';
import { expectBatonError } from './batonErrorAssert.js';

describe('checkArgv / checkEnv: what every compute backend refuses before launching', () => {
  it('passes hostile but well-formed text through unchanged', () => {
    const argv = ['/bin/echo', '$(touch x)', '; rm -rf /', '-rf', '中😀', '\'"`'];
    assert.deepEqual(checkArgv(argv), argv);
    assert.deepEqual(checkEnv({ A: '$(x)\n', B: '😀' }), { A: '$(x)\n', B: '😀' });
  });

  it('refuses NUL and lone surrogates, naming the element', () => {
    assert.equal(expectBatonError(() => checkArgv(['a', 'b\0'])).field, 'argv[1]');
    assert.equal(expectBatonError(() => checkArgv(['a', 'x\uD800y'])).field, 'argv[1]');
    assert.equal(expectBatonError(() => checkArgv(['\uDC00'])).field, 'argv[0]');
    assert.equal(expectBatonError(() => checkEnv({ K: 'v\uDFFF' })).field, 'env.K');
  });

  it('tells a surrogate pair from a lone half', () => {
    assert.equal(hasLoneSurrogate('😀'), false);
    assert.equal(hasLoneSurrogate('\uD83D'), true);
    assert.equal(hasLoneSurrogate('a\uDE00'), true);
  });
});
