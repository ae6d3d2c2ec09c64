import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CosmosClient } from '@azure/cosmos';
import {
  CosmosStateStore,
  createCosmosStateStore,
  encodeCosmosId,
  ensureCosmosContainers,
} from '../../shared/adapters/azure/cosmosStateStore.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { startCosmosEmulator, type CosmosEmulator } from '../servers/cosmosEmulator.js';
import {
  startCosmosFaultProxy,
  type CosmosFault,
  type CosmosFaultProxy,
} from '../servers/cosmosFaultProxy.js';
import { runStateStoreContract } from './stateStore.contract.js';

/**
 * The StateStore contract against a real @azure/cosmos client talking HTTPS to
 * @vercel/cosmosdb-server on loopback; every fixture gets a fresh database, deleted afterwards.
 */
let emulator: CosmosEmulator | undefined;
let client: CosmosClient | undefined;

before(async () => {
  emulator = await startCosmosEmulator({ tls: true });
  client = new CosmosClient({
    endpoint: emulator.endpoint,
    key: emulator.key,
    ...emulator.clientOptions,
  });
});

after(async () => {
  client?.dispose();
  await emulator?.close();
});

function connected(): CosmosClient {
  assert.ok(client, 'the emulator is started in before()');
  return client;
}

runStateStoreContract('cosmos (emulator on the wire)', async () => {
  const cosmos = connected();
  const databaseId = `contract-${randomUUID()}`;
  await ensureCosmosContainers(cosmos, databaseId, ['runs', 'jobs']);
  return {
    store: new CosmosStateStore({ client: cosmos, databaseId, pageSize: 2 }),
    cleanup: async () => {
      await cosmos.database(databaseId).delete();
    },
  };
});

describe('CosmosStateStore specifics (emulator on the wire)', () => {
  const fresh = async (
    collections: string[] = ['runs'],
  ): Promise<{ store: CosmosStateStore; databaseId: string }> => {
    const databaseId = `specifics-${randomUUID()}`;
    await ensureCosmosContainers(connected(), databaseId, collections);
    return { store: new CosmosStateStore({ client: connected(), databaseId }), databaseId };
  };

  it('stores { id: base64url(id), pk, docId, body } and round-trips ids Cosmos forbids', async () => {
    const { store, databaseId } = await fresh();
    const ids = ['a/b', 'back\\slash', 'what?', '#hash', ' padded ', 'x'.repeat(255), '😀/é'];
    for (const id of ids) await store.create('runs', { id, pk: 'p/1', body: { id } });
    for (const id of ids) assert.deepEqual((await store.read('runs', 'p/1', id))?.body, { id });
    const raw = await connected()
      .database(databaseId)
      .container('runs')
      .item(encodeCosmosId('a/b'), 'p/1')
      .read<Record<string, unknown>>();
    assert.equal(raw.resource?.id, encodeCosmosId('a/b'));
    assert.equal(raw.resource?.docId, 'a/b');
    assert.equal(raw.resource?.pk, 'p/1');
    assert.deepEqual(raw.resource?.body, { id: 'a/b' });
    assert.deepEqual(
      (await store.query('runs', { pk: 'p/1' })).map((d) => d.id).sort(),
      [...ids].sort(),
    );
  });

  it('a collection without a container reads as empty; writing into it is an internal fault', async () => {
    const { store } = await fresh(['runs']);
    assert.equal(await store.read('absent', 'p', 'r1'), undefined);
    assert.deepEqual(await store.query('absent', { pk: 'p', where: { a: 1 } }), []);
    await assert.rejects(store.delete('absent', 'p', 'r1'), (e) => isBatonError(e, 'not_found'));
    await assert.rejects(
      store.create('absent', { id: 'r1', pk: 'p', body: {} }),
      (e) => isBatonError(e, 'internal') && /does not exist/.test(e.message),
    );
    await assert.rejects(store.upsert('absent', { id: 'r1', pk: 'p', body: {} }), (e) =>
      isBatonError(e, 'internal'),
    );
  });

  it('containerFor maps collections to container ids; an invalid mapping is a validation error', async () => {
    const databaseId = `mapped-${randomUUID()}`;
    const containerFor = (collection: string): string => `baton-${collection}`;
    await ensureCosmosContainers(connected(), databaseId, ['runs'], containerFor);
    const store = new CosmosStateStore({ client: connected(), databaseId, containerFor });
    await store.create('runs', { id: 'r1', pk: 'p', body: { ok: true } });
    const raw = await connected()
      .database(databaseId)
      .container('baton-runs')
      .item(encodeCosmosId('r1'), 'p')
      .read();
    assert.equal(raw.statusCode, 200);
    const bad = new CosmosStateStore({
      client: connected(),
      databaseId,
      containerFor: (c) => `a/${c}`,
    });
    await assert.rejects(bad.read('runs', 'p', 'r1'), (e) => isBatonError(e, 'validation'));
  });

  it('drains every page of a large result', async () => {
    const { databaseId } = await fresh();
    const store = new CosmosStateStore({ client: connected(), databaseId, pageSize: 3 });
    for (let i = 0; i < 25; i++) await store.create('runs', { id: `r${i}`, pk: 'p', body: { i } });
    const all = await store.query<{ i: number }>('runs', {
      orderBy: { field: 'i', direction: 'desc' },
    });
    assert.deepEqual(
      all.map((d) => d.body.i),
      Array.from({ length: 25 }, (_, i) => 24 - i),
    );
    assert.equal((await store.query('runs', { pk: 'p', limit: 7 })).length, 7);
  });
});

describe('CosmosStateStore under throttling (fault proxy in front of the emulator)', () => {
  let plain: CosmosEmulator | undefined;
  let proxy: CosmosFaultProxy | undefined;
  let fault: ((req: IncomingMessage) => CosmosFault | undefined) | undefined;
  const databaseId = 'faults';

  before(async () => {
    plain = await startCosmosEmulator({ tls: false });
    proxy = await startCosmosFaultProxy(plain.endpoint, (req) => fault?.(req));
    const direct = new CosmosClient({
      endpoint: plain.endpoint,
      key: plain.key,
      ...plain.clientOptions,
    });
    await ensureCosmosContainers(direct, databaseId, ['runs']);
    direct.dispose();
  });

  after(async () => {
    await proxy?.close();
    await plain?.close();
  });

  /** The production factory (SDK throttling retries off), pointed at the proxy. */
  const storeViaProxy = (): CosmosStateStore => {
    assert.ok(proxy && plain);
    return createCosmosStateStore({
      endpoint: proxy.endpoint,
      databaseId,
      key: plain.key,
      clientOptions: plain.clientOptions,
      // A backoff far longer than the service's hint: the elapsed time shows which one was used.
      retry: { attempts: 4, baseDelayMs: 5_000 },
    });
  };
  /** Throttles item creates (POST …/docs that is neither a query nor an upsert). */
  const throttleCreates =
    (budget: number) =>
    (req: IncomingMessage): CosmosFault | undefined => {
      const isCreate =
        req.method === 'POST' &&
        /\/docs\/?$/.test(req.url ?? '') &&
        req.headers['x-ms-documentdb-isquery'] === undefined &&
        req.headers['x-ms-documentdb-is-upsert'] === undefined;
      if (!isCreate || budget <= 0) return undefined;
      budget--;
      return { status: 429, headers: { 'x-ms-retry-after-ms': '40', 'x-ms-substatus': '3200' } };
    };

  it('a 429 with x-ms-retry-after-ms is retried after the hinted delay, then succeeds', async () => {
    const store = storeViaProxy();
    try {
      assert.ok(proxy);
      const faultsBefore = proxy.faulted;
      fault = throttleCreates(1);
      const started = performance.now();
      const created = await store.create('runs', { id: 'throttled-once', pk: 'p', body: { v: 1 } });
      const elapsed = performance.now() - started;
      assert.equal(proxy.faulted - faultsBefore, 1);
      assert.ok(elapsed >= 35, `waited ${elapsed} ms, the service asked for 40`);
      assert.ok(elapsed < 4_000, `waited ${elapsed} ms: the Retry-After hint was not honoured`);
      assert.deepEqual(await store.read('runs', 'p', 'throttled-once'), created);
    } finally {
      fault = undefined;
      store.dispose();
    }
  });

  it('429 on every attempt ends as a retryable unavailable error after the bounded attempts', async () => {
    const store = storeViaProxy();
    try {
      assert.ok(proxy);
      const faultsBefore = proxy.faulted;
      fault = throttleCreates(Number.POSITIVE_INFINITY);
      await assert.rejects(
        store.create('runs', { id: 'throttled-forever', pk: 'p', body: {} }),
        (e) => isBatonError(e, 'unavailable') && e.retryable && /429/.test(e.message),
      );
      assert.equal(proxy.faulted - faultsBefore, 4, 'one request per callAzure attempt');
      fault = undefined;
      assert.equal(await store.read('runs', 'p', 'throttled-forever'), undefined);
    } finally {
      fault = undefined;
      store.dispose();
    }
  });
});
