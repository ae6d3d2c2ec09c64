import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CosmosClient } from '@azure/cosmos';
import { DataLakeServiceClient, StorageSharedKeyCredential } from '@azure/storage-file-datalake';
import { AciBackend, limitRequestTime } from '../../shared/adapters/azure/aciCompute.js';
import { AdlsLake, adlsRetryOptions } from '../../shared/adapters/azure/adlsLake.js';
import {
  CosmosStateStore,
  ensureCosmosContainers,
} from '../../shared/adapters/azure/cosmosStateStore.js';
import { createServiceBusBus } from '../../shared/adapters/azure/serviceBusBus.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { recordTallies } from '../campaign/tally.js';
import { AmqpBroker } from '../servers/amqpBroker.js';
import { createFakeAciClient } from '../servers/arm/fakeAciClient.js';
import { startArmContainerServer, type ArmContainerServer } from '../servers/armContainerServer.js';
import { startCosmosEmulator, type CosmosEmulator } from '../servers/cosmosEmulator.js';
import {
  startCosmosFaultProxy,
  type CosmosFault,
  type CosmosFaultProxy,
} from '../servers/cosmosFaultProxy.js';
import { startDfsServer, type DfsServer } from '../servers/dfsServer.js';

/**
 * Faults in dependencies: the Azure adapters (real SDKs) get 429s, 503s, 500s, timeouts,
 * dropped connections and (the lake) response bodies that stall from the local protocol servers. A workload through each (files written,
 * documents created, messages sent, containers launched) with a fault in front of most
 * operations must complete with nothing lost; a fault that does not stop must surface, after
 * the retries, as an `unavailable` error whose message names the dependency and holds no stack
 * trace.
 */
const operations = 12;

interface Figures {
  dependency: string;
  faults: number;
  operations: number;
  lost: number;
  surfaced: boolean;
}
const figures: Figures[] = [];
const surfacedMessages: string[] = [];

/** The persistent fault's error: unavailable, naming the dependency, one line, no stack. */
async function surfaces(
  dependency: string,
  names: RegExp,
  operation: () => Promise<unknown>,
): Promise<boolean> {
  const started = Date.now();
  const error = await operation().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isBatonError(error), `${dependency}: a BatonError, got ${String(error)}`);
  assert.equal(error.code, 'unavailable', `${dependency}: ${error.message}`);
  assert.match(error.message, names, `${dependency}: the message names it`);
  assert.doesNotMatch(error.message, /\n\s+at |\.ts:\d+/, `${dependency}: no stack trace`);
  assert.ok(Date.now() - started < 30_000, `${dependency}: surfaced in time`);
  surfacedMessages.push(`${dependency}: ${error.message}`);
  return true;
}

describe('faults in dependencies: retried with backoff, surfaced after the limit, nothing lost', () => {
  let dfs: DfsServer;
  let cosmos: CosmosEmulator;
  let proxy: CosmosFaultProxy;
  let broker: AmqpBroker;
  let arm: ArmContainerServer;
  const cosmosFaults: CosmosFault[] = [];
  let cosmosAlways: CosmosFault | undefined;

  before(async () => {
    [dfs, cosmos, broker, arm] = await Promise.all([
      startDfsServer(),
      startCosmosEmulator({ tls: false }),
      AmqpBroker.start(),
      startArmContainerServer({ stopGraceMs: 200 }),
    ]);
    proxy = await startCosmosFaultProxy(cosmos.endpoint, (req) => {
      // Only document operations: the SDK's account and metadata reads stay clean.
      if (!/\/docs/.test(req.url ?? '')) return undefined;
      return cosmosAlways ?? cosmosFaults.shift();
    });
  });
  after(async () => {
    await Promise.all([dfs?.close(), proxy?.close(), broker?.stop(), arm?.close()]);
    await cosmos?.close();
    console.log(`errors surfaced after the retry limit:\n${surfacedMessages.join('\n')}`);
    recordTallies('dependency faults', [
      { measure: 'dependencies faulted', count: figures.length, required: '>= 4' },
      { measure: 'faults injected', count: figures.reduce((n, f) => n + f.faults, 0) },
      { measure: 'operations under faults', count: figures.reduce((n, f) => n + f.operations, 0) },
      {
        measure: 'operations lost',
        count: figures.reduce((n, f) => n + f.lost, 0),
        required: '= 0',
      },
      {
        measure: 'persistent faults surfaced clearly',
        count: figures.filter((f) => f.surfaced).length,
        required: `>= ${figures.length}`,
      },
    ]);
  });

  it('lake (ADLS Gen2 SDK against the DFS server)', { timeout: 60_000 }, async () => {
    const service = new DataLakeServiceClient(
      dfs.accountUrl,
      new StorageSharedKeyCredential(dfs.account, Buffer.from('dummy-key').toString('base64')),
      {
        // The production options, with times a test can wait for.
        retryOptions: {
          ...adlsRetryOptions,
          maxTries: 2,
          retryDelayInMs: 10,
          maxRetryDelayInMs: 50,
        },
      },
    );
    const fileSystem = service.getFileSystemClient('faults');
    await fileSystem.create();
    const lake = new AdlsLake({
      fileSystem,
      retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
      requestTimeoutMs: 250,
    });
    const before = dfs.requests.length;
    const kinds = [429, 503, 500, 'drop', 'timeout', 'unanswered rename'] as const; // writes
    const isRename = (r: { headers: Record<string, unknown> }): boolean =>
      r.headers['x-ms-rename-source'] !== undefined;
    for (let i = 0; i < operations; i++) {
      const kind = kinds[i % kinds.length] ?? 'drop';
      if (kind === 'drop') dfs.dropNext(1);
      // Held past the client's try timeout, then handled: the late request still lands.
      else if (kind === 'timeout') dfs.delayNext(1, 700);
      // The create-only rename is made but never answered: its retry must see it as ours.
      else if (kind === 'unanswered rename') dfs.dropAnswerNext(1, isRename);
      else dfs.failNext(1, kind, kind === 429 ? { headers: { 'retry-after': '0' } } : {});
      await lake.write(`out/f${i}.txt`, `content ${i}`, { createOnly: true });
    }
    const lost: string[] = [];
    let stalled = 0;
    for (let i = 0; i < operations; i++) {
      // Every other read back: the body starts, then goes silent (a half-open connection).
      if (i % 2 === 0) {
        stalled++;
        dfs.stallBodyNext(1, 3, (r) => r.method === 'GET' && r.path.endsWith(`out/f${i}.txt`));
      }
      const text = (await lake.read(`out/f${i}.txt`)).toString();
      if (text !== `content ${i}`) lost.push(`f${i}`);
    }
    // Every injected fault was met, and retried past.
    assert.ok(dfs.requests.length - before > operations * 2 + stalled);
    dfs.failNext(1000, 503);
    const surfaced = await surfaces('lake', /lake|adls|data lake|faults\/late\.txt/i, () =>
      lake.write('late.txt', 'x'),
    );
    dfs.clearFaults();
    assert.deepEqual(lost, []);
    figures.push({
      dependency: 'lake',
      faults: operations + stalled + 1,
      operations: operations * 2,
      lost: lost.length,
      surfaced,
    });
  });

  it('state store (Cosmos DB SDK through the fault proxy)', { timeout: 60_000 }, async () => {
    const client = new CosmosClient({
      endpoint: proxy.endpoint,
      key: cosmos.key,
      connectionPolicy: { enableEndpointDiscovery: false, requestTimeout: 2_000 },
    });
    const databaseId = `faults-${randomUUID().slice(0, 8)}`;
    await ensureCosmosContainers(client, databaseId, ['runs']);
    const store = new CosmosStateStore({
      client,
      databaseId,
      retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    });
    const faultedBefore = proxy.faulted;
    const kinds: CosmosFault[] = [
      { status: 429, headers: { 'x-ms-retry-after-ms': '5' } },
      { status: 503 },
      { status: 408 },
      { status: 0, drop: true },
    ];
    for (let i = 0; i < operations; i++) {
      cosmosFaults.push(kinds[i % kinds.length] as CosmosFault);
      await store.create('runs', { id: `r${i}`, pk: `r${i}`, body: { n: i } });
    }
    const lost: string[] = [];
    for (let i = 0; i < operations; i++) {
      const doc = await store.read<{ n: number }>('runs', `r${i}`, `r${i}`);
      if (doc?.body.n !== i) lost.push(`r${i}`);
    }
    const faults = proxy.faulted - faultedBefore;
    assert.ok(faults >= operations, `faults met: ${faults}`);
    cosmosAlways = { status: 503 };
    const surfaced = await surfaces('state store', /cosmos|state|runs/i, () =>
      store.create('runs', { id: 'late', pk: 'late', body: {} }),
    );
    cosmosAlways = undefined;
    client.dispose();
    assert.deepEqual(lost, []);
    figures.push({
      dependency: 'state store',
      faults: faults + 1,
      operations,
      lost: lost.length,
      surfaced,
    });
  });

  it('bus (Service Bus SDK against the AMQP broker)', { timeout: 60_000 }, async () => {
    broker.createQueue('faults', { maxDeliveryCount: 5, duplicateDetectionWindowMs: 600_000 });
    const bus = createServiceBusBus({
      fullyQualifiedNamespace: broker.host,
      connectionString: broker.connectionString,
      clientOptions: { retryOptions: { maxRetries: 3, retryDelayInMs: 20, timeoutInMs: 1_000 } },
    });
    let faults = 0;
    try {
      for (let i = 0; i < operations; i++) {
        const kind = i % 3;
        if (kind === 0) broker.faults.rejectSends(1);
        if (kind === 1) broker.dropConnections();
        if (kind === 2) {
          // A timeout: answers held back longer than the client waits, then released.
          broker.faults.responseDelayMs = 1_500;
          setTimeout(() => (broker.faults.responseDelayMs = 0), 300);
        }
        faults++;
        await bus.send('faults', [{ messageId: `m${i}`, body: { i } }]);
      }
      const received = new Set<number>();
      for (let tries = 0; tries < 50 && received.size < operations; tries++) {
        for (const m of await bus.receive<{ i: number }>('faults', {
          maxMessages: 20,
          maxWaitMs: 200,
        })) {
          received.add(m.body.i);
          await bus.complete('faults', m);
        }
      }
      const lost = operations - received.size;
      broker.faults.rejectSends(1000);
      const surfaced = await surfaces('bus', /service bus|queue|faults/i, () =>
        bus.send('faults', [{ messageId: 'late', body: {} }]),
      );
      broker.faults.reset();
      assert.equal(lost, 0);
      figures.push({ dependency: 'bus', faults: faults + 1, operations, lost, surfaced });
    } finally {
      broker.faults.reset();
      await bus.close();
    }
  });

  it('compute (ACI SDK against the ARM server)', { timeout: 60_000 }, async () => {
    const backend = new AciBackend({
      client: limitRequestTime(createFakeAciClient(arm.url, { maxRetries: 1 }), 250),
      resourceGroup: 'faults',
      location: 'westeurope',
      defaultImage: 'node:20-alpine',
      pollIntervalMs: 25,
      retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    });
    const jobs = Array.from({ length: operations / 2 }, (_, i) => `faulted-job-${i}`);
    const kinds = [
      { status: 429, retryAfterSeconds: 0 },
      { status: 503 },
      { status: 500 },
      'timeout',
    ] as const;
    let faults = 0;
    for (const [i, jobId] of jobs.entries()) {
      const kind = kinds[i % kinds.length] ?? 'timeout';
      if (kind === 'timeout') holdNextArmRequest(arm, 700);
      else arm.failNext(1, kind);
      faults++;
      await backend.launch({ jobId, argv: ['node', '-e', ''], timeoutSeconds: 60 });
    }
    arm.intercept = undefined;
    const lost: string[] = [];
    for (const jobId of jobs) {
      const status = await backend.status(jobId).catch(() => undefined);
      if (status === undefined) lost.push(jobId);
    }
    arm.failNext(1000, { status: 503 });
    const surfaced = await surfaces('compute', /aci|container/i, () =>
      backend.launch({ jobId: 'faulted-late', argv: ['node', '-e', ''] }),
    );
    arm.clearFaults();
    for (const jobId of jobs) {
      await backend.cancel(jobId).catch(() => undefined);
      await backend.release(jobId).catch(() => undefined);
    }
    assert.deepEqual(lost, []);
    figures.push({
      dependency: 'compute',
      faults: faults + 1,
      operations: jobs.length,
      lost: lost.length,
      surfaced,
    });
  });
});

/** Holds the next ARM request past the client's request timeout, then lets it be handled. */
function holdNextArmRequest(arm: ArmContainerServer, ms: number): void {
  let held = false;
  arm.intercept = async () => {
    if (held) return;
    held = true;
    await new Promise((resolve) => setTimeout(resolve, ms));
  };
}
