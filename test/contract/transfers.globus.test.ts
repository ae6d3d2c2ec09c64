import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GlobusTransfer } from '../../shared/adapters/globus/globusTransfer.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import {
  startGlobusTransferServer,
  type GlobusTransferServer,
} from '../servers/globusTransferServer.js';
import type { RecordedRequest } from '../servers/jsonRouteServer.js';
import { runTransfersContract, waitForEnd, type TransfersWorld } from './transfers.contract.js';

const token = 'globus-token-5c1e';
const spotCollection = randomUUID();
const dataCollection = randomUUID();

async function makeWorld(
  options: { timeoutMs?: number } = {},
): Promise<TransfersWorld & { server: GlobusTransferServer; transfers: GlobusTransfer }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-globus-'));
  const folders = { spot: path.join(root, 'spot'), data: path.join(root, 'data') };
  await mkdir(folders.spot);
  await mkdir(folders.data);
  const server = await startGlobusTransferServer({
    token,
    collections: { [spotCollection]: folders.spot, [dataCollection]: folders.data },
  });
  const transfers = new GlobusTransfer({
    baseUrl: `${server.url}/v0.10`,
    token,
    endpoints: {
      spot: { collection: spotCollection },
      data: { collection: dataCollection, root: '/' },
    },
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    timeoutMs: options.timeoutMs ?? 2000,
  });
  return {
    service: transfers,
    transfers,
    server,
    folders,
    removes: false,
    reportsChecksums: false,
    hold: () => server.hold(),
    cleanup: async () => {
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

runTransfersContract('GlobusTransfer (local Globus Transfer API server)', makeWorld);

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode, message?: RegExp) =>
  assert.rejects(promise, (err) => {
    assert.ok(isBatonError(err, code), `expected ${code}, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });

const on = (method: string, fragment: string) => (r: RecordedRequest) =>
  r.method === method && r.path.includes(fragment);

describe('GlobusTransfer: on the wire', () => {
  let world: Awaited<ReturnType<typeof makeWorld>>;
  before(async () => {
    world = await makeWorld();
    await writeFile(path.join(world.folders.spot, 'w.h5'), 'wire');
  });
  after(() => world.cleanup());

  const submitW = (transferId: string) =>
    world.transfers.submit({
      transferId,
      source: { endpoint: 'spot', path: '/w.h5' },
      destination: { endpoint: 'data', path: `/out/${transferId}.h5` },
    });

  it('sends a checksum-verified transfer document with the label and the bearer token', async () => {
    await submitW('wire-1');
    const post = world.server.requests.find(on('POST', '/transfer'));
    assert.deepEqual(
      { ...(post?.body as object), submission_id: 'x' },
      {
        DATA_TYPE: 'transfer',
        submission_id: 'x',
        source_endpoint: spotCollection,
        destination_endpoint: dataCollection,
        label: 'wire-1',
        verify_checksum: true,
        sync_level: 'checksum',
        DATA: [
          {
            DATA_TYPE: 'transfer_item',
            source_path: '/w.h5',
            destination_path: '/out/wire-1.h5',
            recursive: false,
          },
        ],
      },
    );
    assert.ok(world.server.requests.every((r) => r.headers.authorization === `Bearer ${token}`));
    assert.equal((await waitForEnd(world.transfers, 'wire-1')).state, 'succeeded');
  });

  it('stat lists the parent folder: size, and an empty (unknown) checksum', async () => {
    assert.deepEqual(await world.transfers.stat('spot', '/w.h5'), { size: 4, checksum: '' });
    const ls = world.server.requests.filter(on('GET', '/ls')).at(-1);
    assert.equal(ls?.query.path, '/');
  });

  it('a lost POST /transfer answer is retried with the same submission id: one task', async () => {
    const before = world.server.taskCount();
    world.server.failNext(1, 503, { when: on('POST', '/transfer'), afterHandling: true });
    await submitW('wire-lost');
    assert.equal(world.server.taskCount(), before + 1);
    const posts = world.server.requests.filter(on('POST', '/transfer')).slice(-2);
    assert.equal(
      (posts[0]?.body as { submission_id: string }).submission_id,
      (posts[1]?.body as { submission_id: string }).submission_id,
    );
  });

  it('finds a task by its label after a restart (a new adapter instance)', async () => {
    await waitForEnd(world.transfers, 'wire-1');
    const fresh = new GlobusTransfer({
      baseUrl: `${world.server.url}/v0.10`,
      token,
      endpoints: { spot: { collection: spotCollection }, data: { collection: dataCollection } },
    });
    const before = world.server.taskCount();
    assert.equal((await submitWith(fresh, 'wire-1')).state, 'succeeded');
    assert.equal(world.server.taskCount(), before);
  });

  it('4xx map to user errors: 400 validation, 403 forbidden, wrong token forbidden', async () => {
    world.server.failNext(1, 400, {
      when: on('POST', '/transfer'),
      code: 'ClientError.BadRequest',
    });
    await rejectsWith(submitW('wire-400'), 'validation', /ClientError.BadRequest/);
    world.server.failNext(1, 403, { when: on('GET', '/task/'), code: 'PermissionDenied' });
    await rejectsWith(world.transfers.status('wire-1'), 'forbidden');
    const wrong = new GlobusTransfer({
      baseUrl: `${world.server.url}/v0.10`,
      token: 'nope-token',
      endpoints: { spot: { collection: spotCollection }, data: { collection: dataCollection } },
    });
    await assert.rejects(wrong.status('wire-1'), (err) => {
      assert.ok(isBatonError(err, 'forbidden'));
      assert.doesNotMatch(err.message, /nope-token/);
      assert.doesNotMatch(JSON.stringify(wrong), /nope-token/);
      return true;
    });
  });

  it('5xx then success is retried', async () => {
    world.server.failNext(2, 502, { when: on('GET', '/task/') });
    assert.equal((await world.transfers.status('wire-1')).state, 'succeeded');
  });

  it('a persistent 5xx ends as unavailable', async () => {
    world.server.failNext(10, 503, { when: on('GET', '/task/') });
    await rejectsWith(world.transfers.status('wire-1'), 'unavailable', /gave up after 3 attempts/);
    world.server.clearFaults();
  });

  it('a reply slower than the timeout is unavailable', async () => {
    const impatient = new GlobusTransfer({
      baseUrl: `${world.server.url}/v0.10`,
      token,
      endpoints: { spot: { collection: spotCollection }, data: { collection: dataCollection } },
      timeoutMs: 50,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    world.server.delayNext(2, 400, on('GET', '/task_list'));
    await rejectsWith(impatient.status('wire-1'), 'unavailable', /no answer within 50 ms/);
  });

  it('a malformed reply is internal and not retried', async () => {
    world.server.malformNext(1, '{"DATA_TYPE":"task","status":"DONE"}', on('GET', '/task/'));
    const before = world.server.requests.length;
    await rejectsWith(world.transfers.status('wire-1'), 'internal', /unexpected reply/);
    assert.equal(world.server.requests.length - before, 1);
    world.server.malformNext(1, '<html>', on('GET', '/task/'));
    await rejectsWith(world.transfers.status('wire-1'), 'internal', /not JSON/);
  });
});

function submitWith(service: GlobusTransfer, transferId: string) {
  return service.submit({
    transferId,
    source: { endpoint: 'spot', path: '/w.h5' },
    destination: { endpoint: 'data', path: `/out/${transferId}.h5` },
  });
}
