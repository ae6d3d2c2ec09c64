import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BatonError,
  conflict,
  errorCodes,
  httpStatusOf,
  isBatonError,
  isUserError,
  notFound,
  preconditionFailed,
  type ErrorCode,
} from '../../shared/domain/errors.js';

// The HTTP semantics of each code (RFC 9110), written down independently of the implementation.
const expectedStatus: Record<ErrorCode, number> = {
  validation: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  internal: 500,
  unavailable: 503,
};

describe('errors: http status mapping', () => {
  for (const code of Object.keys(expectedStatus) as ErrorCode[]) {
    it(`${code} maps to ${expectedStatus[code]}`, () => {
      assert.equal(httpStatusOf(code), expectedStatus[code]);
    });
  }

  it('covers exactly the declared error codes', () => {
    assert.deepEqual([...errorCodes].sort(), Object.keys(expectedStatus).sort());
  });

  it('every code maps to a 4xx or 5xx status', () => {
    for (const code of errorCodes) {
      const status = httpStatusOf(code);
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code} -> ${status}`);
    }
  });
});

describe('errors: isUserError', () => {
  it('is true for the caller-fault codes', () => {
    for (const code of [
      'validation',
      'forbidden',
      'not_found',
      'conflict',
      'precondition_failed',
    ] as const) {
      assert.equal(isUserError(code), true, code);
    }
  });

  it('is false for faults of the system or its dependencies', () => {
    assert.equal(isUserError('internal'), false);
    assert.equal(isUserError('unavailable'), false);
  });

  it('agrees with the 4xx/5xx split for every code', () => {
    for (const code of errorCodes) {
      assert.equal(isUserError(code), httpStatusOf(code) < 500, code);
    }
  });
});

describe('errors: BatonError', () => {
  it('is an Error with name, code and message', () => {
    const e = new BatonError('conflict', 'run r1 already exists');
    assert.ok(e instanceof Error);
    assert.ok(e instanceof BatonError);
    assert.equal(e.name, 'BatonError');
    assert.equal(e.code, 'conflict');
    assert.equal(e.message, 'run r1 already exists');
    assert.equal(e.field, undefined);
  });

  it('toJSON without a field has only code and message (no field key, no stack)', () => {
    const e = new BatonError('not_found', 'run x not found');
    const json = e.toJSON();
    assert.deepEqual(json, { code: 'not_found', message: 'run x not found' });
    assert.equal(Object.hasOwn(json, 'field'), false);
    const text = JSON.stringify(e);
    assert.deepEqual(JSON.parse(text), { code: 'not_found', message: 'run x not found' });
    assert.ok(!text.includes('stack'), text);
  });

  it('toJSON with a field includes it', () => {
    const e = new BatonError('validation', 'body.params.count: expected number', {
      field: 'body.params.count',
    });
    assert.equal(e.field, 'body.params.count');
    assert.deepEqual(e.toJSON(), {
      code: 'validation',
      message: 'body.params.count: expected number',
      field: 'body.params.count',
    });
  });

  it('retryable defaults to true only for unavailable', () => {
    for (const code of errorCodes) {
      assert.equal(new BatonError(code, 'x').retryable, code === 'unavailable', code);
    }
  });

  it('an explicit retryable overrides the default both ways', () => {
    assert.equal(new BatonError('unavailable', 'x', { retryable: false }).retryable, false);
    assert.equal(new BatonError('internal', 'x', { retryable: true }).retryable, true);
  });

  it('keeps a given cause and sets none otherwise', () => {
    const root = new Error('socket hang up');
    assert.equal(new BatonError('unavailable', 'x', { cause: root }).cause, root);
    assert.equal(Object.hasOwn(new BatonError('unavailable', 'x'), 'cause'), false);
  });
});

describe('errors: isBatonError and helpers', () => {
  it('recognises BatonErrors and filters by code', () => {
    const e = new BatonError('forbidden', 'no');
    assert.equal(isBatonError(e), true);
    assert.equal(isBatonError(e, 'forbidden'), true);
    assert.equal(isBatonError(e, 'internal'), false);
    assert.equal(isBatonError(new Error('no')), false);
    assert.equal(isBatonError({ code: 'forbidden', message: 'no' }), false);
    assert.equal(isBatonError(undefined), false);
  });

  it('notFound / conflict / preconditionFailed build the right codes and name the thing', () => {
    const cases: Array<[BatonError, ErrorCode]> = [
      [notFound('run r1'), 'not_found'],
      [conflict('run r1'), 'conflict'],
      [preconditionFailed('run r1'), 'precondition_failed'],
    ];
    for (const [e, code] of cases) {
      assert.equal(e.code, code);
      assert.ok(e.message.includes('run r1'), e.message);
      assert.equal(e.retryable, false);
    }
  });
});
