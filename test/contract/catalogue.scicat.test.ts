import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ScicatCatalogue,
  type ScicatCatalogueOptions,
} from '../../shared/adapters/scicat/scicatCatalogue.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import type { RecordedRequest } from '../servers/jsonRouteServer.js';
import { startScicatServer, type ScicatServer } from '../servers/scicatServer.js';
import { runCatalogueContract, sampleDataset } from './catalogue.contract.js';

const token = 'scicat-token-91b2';

function catalogueFor(server: ScicatServer, options: Partial<ScicatCatalogueOptions> = {}) {
  return new ScicatCatalogue({
    baseUrl: server.url,
    token,
    ownerGroup: 'als832',
    contactEmail: 'bl832@example.org',
    principalInvestigator: 'A. Scientist',
    creationLocation: '/ALS/832',
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    timeoutMs: 2000,
    ...options,
  });
}

runCatalogueContract('ScicatCatalogue (local SciCat API server)', async () => {
  const server = await startScicatServer({ token });
  return { catalogue: catalogueFor(server), cleanup: () => server.close() };
});

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode, message?: RegExp) =>
  assert.rejects(promise, (err) => {
    assert.ok(isBatonError(err, code), `expected ${code}, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });

const on = (method: string, fragment: string) => (r: RecordedRequest) =>
  r.method === method && r.path.includes(fragment);

describe('ScicatCatalogue: on the wire', () => {
  let server: ScicatServer;
  let catalogue: ScicatCatalogue;
  before(async () => {
    server = await startScicatServer({ token });
    catalogue = catalogueFor(server);
  });
  after(() => server.close());

  it('sends a raw dataset and an orig data block; the pid is URL-encoded', async () => {
    await catalogue.ingest(sampleDataset('als/832/wire-1'));
    const dataset = server.requests.find(on('POST', '/api/v3/datasets'))?.body as Record<
      string,
      unknown
    >;
    assert.equal(dataset.pid, 'als/832/wire-1');
    assert.equal(dataset.type, 'raw');
    assert.equal(dataset.sourceFolder, '/data832/raw/20241105_scan_sample');
    assert.deepEqual(dataset.scientificMetadata, {
      energy_keV: { value: 25 },
      detector: { value: 'pco.edge' },
      dark_fields: { value: true },
    });
    const block = server.requests.find(on('POST', '/api/v3/origdatablocks'))?.body as Record<
      string,
      unknown
    >;
    assert.equal(block.datasetId, 'als/832/wire-1');
    assert.equal(block.chkAlg, 'sha256');
    assert.equal((block.dataFileList as unknown[]).length, 1);
    await catalogue.get('als/832/wire-1');
    assert.ok(server.requests.some((r) => r.path === '/api/v3/datasets/als%2F832%2Fwire-1'));
    assert.ok(server.requests.every((r) => r.headers.authorization === `Bearer ${token}`));
  });

  it('a lost create answer is retried and ends as one dataset with one data block', async () => {
    server.failNext(1, 503, { when: on('POST', '/api/v3/datasets'), afterHandling: true });
    const before = { d: server.datasetCount(), b: server.datablockCount() };
    const result = await catalogue.ingest(sampleDataset('wire-lost'));
    assert.equal(result.id, 'wire-lost');
    assert.equal(server.datasetCount(), before.d + 1);
    assert.equal(server.datablockCount(), before.b + 1);
  });

  it('a dataset whose data block was never written gets it on the next ingest', async () => {
    server.failNext(5, 400, { when: on('POST', '/origdatablocks') });
    await rejectsWith(catalogue.ingest(sampleDataset('wire-half')), 'validation');
    server.clearFaults();
    assert.deepEqual(await catalogue.ingest(sampleDataset('wire-half')), {
      id: 'wire-half',
      created: false,
    });
    assert.equal((await catalogue.get('wire-half')).files.length, 1);
  });

  it('the 500 "E11000 duplicate key" of older backends is a duplicate, not an outage', async () => {
    const old = await startScicatServer({ token, duplicateAs500: true });
    try {
      const c = catalogueFor(old);
      await c.ingest(sampleDataset('dup'));
      assert.deepEqual(await c.ingest(sampleDataset('dup')), { id: 'dup', created: false });
    } finally {
      await old.close();
    }
  });

  it('4xx map to user errors; a wrong token is forbidden and never shown', async () => {
    server.failNext(1, 400, {
      when: on('POST', '/api/v3/datasets'),
      message: 'owner should not be empty',
    });
    await rejectsWith(
      catalogue.ingest(sampleDataset('wire-400')),
      'validation',
      /owner should not/,
    );
    server.failNext(1, 403, { when: on('GET', '/datasets/') });
    await rejectsWith(catalogue.get('als/832/wire-1'), 'forbidden');
    const wrong = catalogueFor(server, { token: 'nope-token' });
    await assert.rejects(wrong.get('als/832/wire-1'), (err) => {
      assert.ok(isBatonError(err, 'forbidden'));
      assert.doesNotMatch(err.message, /nope-token/);
      assert.doesNotMatch(JSON.stringify(wrong), /nope-token/);
      return true;
    });
  });

  it('5xx then success is retried; a persistent 5xx is unavailable', async () => {
    server.failNext(2, 502, { when: on('GET', '/datasets/') });
    assert.equal((await catalogue.get('als/832/wire-1')).id, 'als/832/wire-1');
    server.failNext(10, 503, { when: on('GET', '/datasets/') });
    await rejectsWith(catalogue.get('als/832/wire-1'), 'unavailable', /gave up after 3/);
    server.clearFaults();
  });

  it('a timeout is unavailable', async () => {
    const impatient = catalogueFor(server, {
      timeoutMs: 50,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    server.delayNext(2, 400, on('GET', '/datasets/'));
    await rejectsWith(impatient.get('als/832/wire-1'), 'unavailable', /no answer within 50 ms/);
  });

  it('a malformed reply is internal; a null dataset is not_found', async () => {
    server.malformNext(1, '{"pid": 7}', on('GET', '/datasets/'));
    await rejectsWith(catalogue.get('als/832/wire-1'), 'internal', /unexpected reply/);
    server.malformNext(1, 'null', on('GET', '/datasets/'));
    await rejectsWith(catalogue.get('als/832/wire-1'), 'not_found');
  });
});
