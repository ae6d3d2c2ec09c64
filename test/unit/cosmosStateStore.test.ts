import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CosmosClient } from '@azure/cosmos';
import type { AccessToken, TokenCredential } from '@azure/identity';
import fc from 'fast-check';
import { callAzure, requestIdOf, retryAfterMsOf } from '../../shared/adapters/azure/azureErrors.js';
import {
  buildCosmosQuery,
  cosmosFieldExpression,
  CosmosStateStore,
  createCosmosStateStore,
  decodeCosmosId,
  encodeCosmosId,
} from '../../shared/adapters/azure/cosmosStateStore.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import type { FieldValue } from '../../shared/ports/stateStore.js';
import { expectBatonError } from './batonErrorAssert.js';

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

/** Any well-formed string of at most 255 UTF-16 code units (what the store accepts as an id). */
const portId = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 255 })
  .filter((s) => s.length <= 255);

describe('Cosmos id encoding', () => {
  it('round-trips every well-formed id exactly', () => {
    fc.assert(
      fc.property(portId, (id) => {
        assert.equal(decodeCosmosId(encodeCosmosId(id)), id);
      }),
      { numRuns: 500 },
    );
  });

  it('yields only [A-Za-z0-9_-] (never / \\ ? #) within the 1023-byte id limit', () => {
    fc.assert(
      fc.property(portId, (id) => {
        const encoded = encodeCosmosId(id);
        assert.match(encoded, /^[A-Za-z0-9_-]+$/);
        assert.ok(Buffer.byteLength(encoded) <= 1020, `${encoded.length} characters`);
      }),
      { numRuns: 500 },
    );
    assert.ok(encodeCosmosId('\u{10FFFF}'.repeat(127) + 'é').length <= 1020);
    assert.ok(encodeCosmosId('✓'.repeat(255)).length <= 1020);
  });

  it('is injective and case-sensitive', () => {
    fc.assert(
      fc.property(portId, portId, (a, b) => {
        fc.pre(a !== b);
        assert.notEqual(encodeCosmosId(a), encodeCosmosId(b));
      }),
    );
    assert.notEqual(encodeCosmosId('Run-1'), encodeCosmosId('run-1'));
    assert.equal(encodeCosmosId('a/b?c#d\\e'), 'YS9iP2MjZFxl');
  });

  it('decoding rejects what the encoder cannot produce', () => {
    for (const bad of ['YQ==', 'a+b', 'a/b', 'Zh', 'YS9i P2Mj']) {
      expectBatonError(() => decodeCosmosId(bad), 'internal');
    }
  });
});

describe('Cosmos query building', () => {
  it('builds parameterised SQL: pk, equality, ARRAY_CONTAINS, ORDER BY and TOP', () => {
    const spec = buildCosmosQuery({
      pk: 'p1',
      where: { status: ['done', 'failed'], 'owner.name': 'ada', n: 3, flag: null },
      orderBy: { field: 'owner.name', direction: 'desc' },
      limit: 10,
    });
    assert.equal(
      spec.query,
      'SELECT TOP @limit * FROM c WHERE c.pk = @pk' +
        ' AND ARRAY_CONTAINS(@p0, c.body["status"])' +
        ' AND c.body["owner"]["name"] = @p1' +
        ' AND c.body["n"] = @p2' +
        ' AND c.body["flag"] = @p3' +
        ' ORDER BY c.body["owner"]["name"] DESC',
    );
    assert.deepEqual(spec.parameters, [
      { name: '@pk', value: 'p1' },
      { name: '@p0', value: ['done', 'failed'] },
      { name: '@p1', value: 'ada' },
      { name: '@p2', value: 3 },
      { name: '@p3', value: null },
      { name: '@limit', value: 10 },
    ]);
    assert.deepEqual(buildCosmosQuery({}), { query: 'SELECT * FROM c', parameters: [] });
    assert.equal(
      buildCosmosQuery({ orderBy: { field: 'n', direction: 'asc' } }).query,
      'SELECT * FROM c ORDER BY c.body["n"] ASC',
    );
  });

  it('never puts a value into the SQL text: the text depends on the field names only', () => {
    const value = fc.oneof(
      fc.string(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), value, fc.array(value), (pk, v, list) => {
        const spec = buildCosmosQuery({ pk, where: { a: v, 'b.c': list } });
        assert.equal(
          spec.query,
          'SELECT * FROM c WHERE c.pk = @pk AND c.body["a"] = @p0 AND ARRAY_CONTAINS(@p1, c.body["b"]["c"])',
        );
        assert.deepEqual(
          (spec.parameters ?? []).map((p) => p.value),
          [pk, v, list],
        );
      }),
    );
  });

  it('accepts identifier paths, SQL keywords included, in bracket notation', () => {
    assert.equal(cosmosFieldExpression('value', 'f'), 'c.body["value"]');
    assert.equal(cosmosFieldExpression('order.by.top', 'f'), 'c.body["order"]["by"]["top"]');
    assert.equal(cosmosFieldExpression('_a1.B_2', 'f'), 'c.body["_a1"]["B_2"]');
  });

  it('rejects field paths that are not dotted identifiers, injection attempts included', () => {
    const attempts = [
      'x = 1 OR 1=1',
      'status = @p0 OR true',
      'a"] OR 1=1 --',
      "a']",
      'a..b',
      '.a',
      'a.',
      '',
      '1a',
      'a-b',
      'a b',
      'a[0]',
      'owner.name; DROP',
      'a\nb',
      'a\n',
      'a\u0000',
      'a.b.c.d.e.f.g.h.i',
      'x'.repeat(65),
      'é',
    ];
    for (const path of attempts) {
      const where = expectBatonError(() => buildCosmosQuery({ where: { [path]: 1 } }));
      assert.equal(where.field, 'query.where');
      const order = expectBatonError(() =>
        buildCosmosQuery({ orderBy: { field: path, direction: 'asc' } }),
      );
      assert.equal(order.field, 'query.orderBy.field');
    }
    fc.assert(
      fc.property(
        fc
          .string()
          .filter(
            (s) => !/^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/.test(s),
          ),
        (path) => {
          expectBatonError(() => cosmosFieldExpression(path, 'f'));
        },
      ),
    );
  });

  it('rejects bad limits, directions, partition keys and values', () => {
    for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(expectBatonError(() => buildCosmosQuery({ limit })).field, 'query.limit');
    }
    const direction = 'sideways' as 'asc';
    expectBatonError(() => buildCosmosQuery({ orderBy: { field: 'n', direction } }));
    assert.equal(expectBatonError(() => buildCosmosQuery({ pk: '' })).field, 'query.pk');
    for (const bad of [{ nested: 1 }, Number.NaN, [['x']], [{ a: 1 }], undefined]) {
      const where = { n: bad } as unknown as Record<string, FieldValue>;
      assert.equal(expectBatonError(() => buildCosmosQuery({ where })).field, 'query.where.n');
    }
    const notAnObject = 'status' as unknown as Record<string, FieldValue>;
    expectBatonError(() => buildCosmosQuery({ where: notAnObject }));
  });
});

describe('Cosmos error view and retries', () => {
  const cosmosError = (code: number, headers: Record<string, string>): Error =>
    Object.assign(new Error(`status ${code}`), { code, headers });

  it('reads a Cosmos error’s plain headers for Retry-After and the request id', () => {
    const error = cosmosError(429, { 'x-ms-retry-after-ms': '40', 'x-ms-activity-id': 'act-1' });
    assert.equal(retryAfterMsOf(error), 40);
    assert.equal(requestIdOf(error), 'act-1');
    assert.equal(retryAfterMsOf('text'), undefined);
  });

  it('callAzure retries a Cosmos 429 after the hinted delay and translates what is left', async () => {
    let calls = 0;
    const value = await callAzure(
      'op',
      async () => {
        calls++;
        if (calls === 1) throw cosmosError(429, { 'x-ms-retry-after-ms': '5' });
        return 'ok';
      },
      { baseDelayMs: 60_000 },
    );
    assert.equal(value, 'ok');
    assert.equal(calls, 2);
    await rejectsWith(
      callAzure('op', () => Promise.reject(cosmosError(412, {}))),
      'precondition_failed',
    );
    await rejectsWith(
      callAzure('op', () => Promise.reject(cosmosError(409, {}))),
      'conflict',
    );
  });
});

describe('CosmosStateStore validation (before any request)', () => {
  // Never contacted: every call below fails validation first.
  const client = new CosmosClient({
    endpoint: 'https://127.0.0.1:9',
    key: 'unused',
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  after(() => client.dispose());
  const store = new CosmosStateStore({ client, databaseId: 'db' });

  it('rejects ids and keys the port does not allow, or that would not round-trip', async () => {
    await rejectsWith(
      store.create('runs', { id: 'x'.repeat(256), pk: 'p', body: {} }),
      'validation',
    );
    await rejectsWith(store.create('runs', { id: 'a\uD800', pk: 'p', body: {} }), 'validation');
    await rejectsWith(store.create('runs', { id: 'a\0', pk: 'p', body: {} }), 'validation');
    await rejectsWith(store.read('runs', 'p'.repeat(256), 'r1'), 'validation');
    await rejectsWith(store.read('a/b', 'p', 'r1'), 'validation');
    await rejectsWith(store.query('', {}), 'validation');
  });

  it('never sends an unconditional write for an empty etag', async () => {
    await rejectsWith(store.replace('runs', { id: 'r1', pk: 'p', body: {} }, ''), 'validation');
    await rejectsWith(store.delete('runs', 'p', 'r1', ''), 'validation');
  });

  it('rejects bodies JSON cannot carry as validation, not as a service fault', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await rejectsWith(store.create('runs', { id: 'r1', pk: 'p', body: cyclic }), 'validation');
    await rejectsWith(store.upsert('runs', { id: 'r1', pk: 'p', body: { n: 1n } }), 'validation');
  });
});

describe('createCosmosStateStore', () => {
  const credential: TokenCredential = {
    getToken: (): Promise<AccessToken> =>
      Promise.resolve({ token: 'unused', expiresOnTimestamp: Date.now() + 60_000 }),
  };

  it('builds a store over Entra ID credentials or an explicit key, not both', () => {
    const options = {
      endpoint: 'https://127.0.0.1:9',
      databaseId: 'db',
      clientOptions: { connectionPolicy: { enableEndpointDiscovery: false } },
    };
    createCosmosStateStore({ ...options, credential }).dispose();
    createCosmosStateStore({ ...options, key: 'k' }).dispose();
    expectBatonError(() => createCosmosStateStore({ ...options, credential, key: 'k' }));
  });
});
