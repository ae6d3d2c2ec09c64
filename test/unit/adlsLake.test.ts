import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  BlobServiceClient,
  StorageSharedKeyCredential as BlobSharedKey,
} from '@azure/storage-blob';
import {
  DataLakeServiceClient,
  StorageSharedKeyCredential,
  type DataLakeFileSystemClient,
} from '@azure/storage-file-datalake';
import {
  AdlsLake,
  createAdlsLake,
  type AdlsLakeOptions,
} from '../../shared/adapters/azure/adlsLake.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import { startDfsServer, type DfsServer, type RecordedRequest } from '../servers/dfsServer.js';

const md5 = (data: Uint8Array | string): string => createHash('md5').update(data).digest('hex');
const dummyKey = Buffer.from('not-a-real-key').toString('base64');

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

let server: DfsServer;
let scratch: string;
let counter = 0;

before(async () => {
  server = await startDfsServer({ maxListResults: 4 });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-adls-unit-'));
});

after(async () => {
  await server.close();
  await rm(scratch, { recursive: true, force: true });
});

afterEach(() => {
  server.clearFaults();
  assert.deepEqual(
    server.unknown.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)}`),
    [],
    'the SDK made a call the DFS server does not implement',
  );
});

/**
 * A fresh filesystem on the DFS server. `sdkRetries: 1` switches the SDK's own retry policy off,
 * so the lake's Retry-After-aware retries are what the test sees.
 */
async function freshLake(
  options: Omit<AdlsLakeOptions, 'fileSystem'> & { sdkRetries?: number } = {},
): Promise<{ lake: AdlsLake; fileSystem: DataLakeFileSystemClient; name: string }> {
  const { sdkRetries, ...lakeOptions } = options;
  const service = new DataLakeServiceClient(
    server.accountUrl,
    new StorageSharedKeyCredential(server.account, dummyKey),
    { retryOptions: { maxTries: sdkRetries ?? 1, retryDelayInMs: 5, maxRetryDelayInMs: 20 } },
  );
  const name = `unit${++counter}`;
  const fileSystem = service.getFileSystemClient(name);
  await fileSystem.create();
  return { lake: new AdlsLake({ ...lakeOptions, fileSystem }), fileSystem, name };
}

const requestsSince = (mark: number): RecordedRequest[] => server.requests.slice(mark);

describe('AdlsLake on the DFS server', () => {
  it('a multi-megabyte upload goes as parallel, out-of-order appends and round-trips with its MD5', async () => {
    const { lake, name } = await freshLake({ chunkSize: 256 * 1024, concurrency: 6 });
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const source = path.join(scratch, 'big.bin');
    await writeFile(source, data);
    // Hold the first append back so later chunks are applied before it.
    server.delayNext(1, 150, (r) => r.query.action === 'append' && r.query.position === '0');
    const mark = server.requests.length;

    const entry = await lake.uploadFile(source, 'in/big.bin');

    assert.equal(entry.size, data.length);
    assert.equal(entry.md5, md5(data));
    const appends = server.appliedAppends.filter((a) =>
      a.path.startsWith(`${name}/in/.baton-tmp-`),
    );
    assert.equal(appends.length, Math.ceil(data.length / (256 * 1024)));
    assert.notEqual(appends[0]?.position, 0, 'position 0 was applied after later chunks');
    const positions = appends.map((a) => a.position).sort((a, b) => a - b);
    assert.deepEqual(
      positions,
      positions.map((_, i) => i * 256 * 1024),
    );
    // Content-MD5 travels base64 on the flush and comes back hex from stat.
    const flush = requestsSince(mark).find((r) => r.query.action === 'flush');
    assert.equal(
      flush?.headers['x-ms-content-md5'],
      createHash('md5').update(data).digest('base64'),
    );
    assert.equal((await lake.stat('in/big.bin'))?.md5, md5(data));
    assert.ok(data.equals(server.fileContent(name, 'in/big.bin') ?? Buffer.alloc(0)));
    const copy = path.join(scratch, 'copy.bin');
    assert.equal((await lake.downloadFile('in/big.bin', copy)).md5, md5(data));
    assert.ok(data.equals(await readFile(copy)));
    assert.ok(data.equals(await lake.read('in/big.bin')));
  });

  it('list drains every page (the server caps pages at 4) and returns sorted paths relative to the root', async () => {
    const { lake } = await freshLake({ rootFolder: 'root/folder' });
    const files = Array.from(
      { length: 13 },
      (_, i) => `d${i % 3}/f${String(i).padStart(2, '0')}.txt`,
    );
    await Promise.all(files.map((f) => lake.write(f, f)));
    const mark = server.requests.length;

    const entries = await lake.list('', { recursive: true });

    const expected = [...files, 'd0', 'd1', 'd2'].sort();
    assert.deepEqual(
      entries.map((e) => e.path),
      expected,
    );
    for (const e of entries) assert.equal(e.isDirectory, !e.path.endsWith('.txt'), e.path);
    const listCalls = requestsSince(mark).filter((r) => r.query.resource === 'filesystem');
    assert.equal(listCalls.length, Math.ceil(expected.length / 4));
    assert.equal(listCalls[0]?.query.directory, 'root/folder');
    assert.equal(listCalls[0]?.query.continuation, undefined);
    assert.ok(listCalls.slice(1).every((r) => r.query.continuation !== undefined));
  });

  it('a 503 with Retry-After is waited out and then succeeds', async () => {
    const { lake } = await freshLake({ retry: { attempts: 3, baseDelayMs: 5 } });
    await lake.write('r.txt', 'retry me');
    server.failNext(1, 503, { headers: { 'retry-after': '1' } });
    const mark = server.requests.length;
    const started = Date.now();

    assert.equal((await lake.read('r.txt')).toString(), 'retry me');

    assert.ok(Date.now() - started >= 950, `waited only ${Date.now() - started} ms`);
    assert.equal(requestsSince(mark).length, 2);
  });

  it('a 429 with Retry-After is retried by the lake (the SDK policy does not retry 429)', async () => {
    // The production factory's client (SDK retries on), with shared key as the explicit fallback.
    const { name } = await freshLake();
    const lake = createAdlsLake({
      accountUrl: server.accountUrl,
      fileSystem: name,
      sharedKey: { account: server.account, key: dummyKey },
    });
    server.failNext(1, 429, { headers: { 'retry-after': '1' } });
    const mark = server.requests.length;

    assert.equal((await lake.write('t.txt', 'throttled')).md5, md5('throttled'));

    const seen = requestsSince(mark);
    assert.equal(seen[0]?.query.resource, 'file');
    assert.equal(seen[1]?.query.resource, 'file', 'the throttled create was sent again');
    assert.match(String(seen[0]?.headers.authorization), /^SharedKey devstoreaccount1:/);
    assert.equal((await lake.read('t.txt')).toString(), 'throttled');
  });

  it('a persistent 500 ends as unavailable, retryable, with the request id in the message', async () => {
    const { lake } = await freshLake({ retry: { attempts: 3, baseDelayMs: 1 } });
    await lake.write('p.txt', 'x');
    server.failNext(50, 500, { headers: { 'x-ms-request-id': 'rid-persistent-500' } });
    const mark = server.requests.length;

    await assert.rejects(lake.read('p.txt'), (err) => {
      assert.ok(isBatonError(err, 'unavailable'), String(err));
      assert.equal(err.retryable, true);
      assert.match(err.message, /rid-persistent-500/);
      return true;
    });
    assert.equal(requestsSince(mark).length, 3);
  });

  it(
    'a download or read whose body stalls is abandoned after the time limit and read again',
    { timeout: 20_000 },
    async () => {
      const { lake } = await freshLake({ requestTimeoutMs: 300, retry: { baseDelayMs: 5 } });
      const content = Buffer.alloc(256 * 1024, 7);
      await lake.write('stall/data.bin', content);
      const reads = (r: RecordedRequest): boolean =>
        r.method === 'GET' && r.path.endsWith('stall/data.bin');
      const local = path.join(scratch, `stall-${String(counter)}.bin`);

      server.stallBodyNext(1, 1000, reads);
      const entry = await lake.downloadFile('stall/data.bin', local);
      assert.equal(entry.md5, md5(content));
      assert.equal(md5(await readFile(local)), md5(content));

      server.stallBodyNext(1, 0, reads);
      assert.equal(md5(await lake.read('stall/data.bin')), md5(content));
      assert.equal(
        server.requests.filter(reads).length,
        4,
        'each stalled read was sent again once',
      );
    },
  );

  it(
    'a body that stalls on every try ends as unavailable, naming the file, with nothing left behind',
    { timeout: 20_000 },
    async () => {
      const { lake } = await freshLake({
        requestTimeoutMs: 200,
        retry: { attempts: 2, baseDelayMs: 5 },
      });
      await lake.write('stall/always.bin', Buffer.alloc(64 * 1024, 1));
      const reads = (r: RecordedRequest): boolean =>
        r.method === 'GET' && r.path.endsWith('stall/always.bin');
      server.stallBodyNext(10, 100, reads);
      const folder = await mkdtemp(path.join(scratch, 'stalled-'));
      await assert.rejects(
        lake.downloadFile('stall/always.bin', path.join(folder, 'out.bin')),
        (err) => {
          assert.ok(isBatonError(err, 'unavailable'));
          assert.match(
            err.message,
            /lake download stall\/always\.bin: no data received for 200 ms/,
          );
          return true;
        },
      );
      assert.deepEqual(await readdir(folder), [], 'no partial file or temp left');
      assert.equal(server.requests.filter(reads).length, 2);
    },
  );

  it('escaping paths are refused before any request is sent', async () => {
    const { lake, fileSystem } = await freshLake();
    const local = path.join(scratch, 'payload.txt');
    await writeFile(local, 'payload');
    const mark = server.requests.length;
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', '..', 'a\\b', 'a\0b', '.baton-tmp-x']) {
      await rejectsWith(lake.write(bad, 'payload'), 'validation');
      await rejectsWith(lake.write(bad, 'payload', { createOnly: true }), 'validation');
      await rejectsWith(lake.uploadFile(local, bad), 'validation');
      await rejectsWith(lake.read(bad), 'validation');
      await rejectsWith(lake.downloadFile(bad, path.join(scratch, 'o.txt')), 'validation');
      await rejectsWith(lake.stat(bad), 'validation');
      await rejectsWith(lake.list(bad, { recursive: true }), 'validation');
      await rejectsWith(lake.delete(bad, { recursive: true }), 'validation');
    }
    assert.throws(
      () => new AdlsLake({ fileSystem, rootFolder: '../up' }),
      (err) => isBatonError(err, 'validation'),
    );
    assert.deepEqual(requestsSince(mark), []);
  });

  it('createOnly loses cleanly: conflict, the original kept, no temp file left behind', async () => {
    const { lake, fileSystem } = await freshLake();
    await lake.write('out/r.json', '{"v":1}', { createOnly: true });
    await rejectsWith(lake.write('out/r.json', '{"v":2}', { createOnly: true }), 'conflict');
    assert.equal((await lake.read('out/r.json')).toString(), '{"v":1}');
    const names: string[] = [];
    for await (const p of fileSystem.listPaths({ recursive: true })) names.push(p.name ?? '');
    assert.deepEqual(names.sort(), ['out', 'out/r.json']);
  });

  it('a 404 delete with a code other than PathNotFound still means "nothing there"', async () => {
    // The SDK's deleteIfExists would throw here; the lake treats any path 404 as absent.
    const { lake } = await freshLake();
    await lake.write('gone.txt', 'x');
    server.failNext(1, 404, { errorCode: 'BlobNotFound', when: (r) => r.method === 'DELETE' });
    assert.equal(await lake.delete('gone.txt', { recursive: true }), false);
  });

  it('a missing filesystem is a not_found error, not an empty lake', async () => {
    const service = new DataLakeServiceClient(
      server.accountUrl,
      new StorageSharedKeyCredential(server.account, dummyKey),
      { retryOptions: { maxTries: 1 } },
    );
    const lake = new AdlsLake({ fileSystem: service.getFileSystemClient('never-created') });
    await rejectsWith(lake.list(''), 'not_found');
    await rejectsWith(lake.stat('x'), 'not_found');
    await rejectsWith(lake.delete('x'), 'not_found');
  });

  it('folders are not files; empty folders still need recursive', async () => {
    const { lake, fileSystem } = await freshLake();
    await fileSystem.getDirectoryClient('empty').create();
    await lake.write('dir/f.txt', 'f');
    await rejectsWith(lake.read('dir'), 'validation');
    await rejectsWith(lake.downloadFile('dir', path.join(scratch, 'd.txt')), 'validation');
    await rejectsWith(lake.delete('empty'), 'validation');
    assert.equal((await lake.stat('empty'))?.isDirectory, true);
    assert.equal(await lake.delete('empty', { recursive: true }), true);
    await rejectsWith(lake.write('dir/f.txt/below', 'x'), 'conflict');
  });

  it('names that need escaping round-trip (space, %, ?, #, unicode)', async () => {
    const { lake } = await freshLake({ rootFolder: 'r oot' });
    const name = 'we ird/100% sure?#ünï.txt';
    await lake.write(name, 'odd');
    assert.equal((await lake.read(name)).toString(), 'odd');
    assert.deepEqual(
      (await lake.list('', { recursive: true })).map((e) => e.path),
      ['we ird', name],
    );
    assert.equal((await lake.stat(name))?.md5, md5('odd'));
  });

  it('contentType is stored', async () => {
    const { lake, fileSystem } = await freshLake();
    await lake.write('c.json', '{}', { contentType: 'application/json' });
    const props = await fileSystem.getFileClient('c.json').getProperties();
    assert.equal(props.contentType, 'application/json');
  });
});

/**
 * What real Azurite (blob only, no DFS endpoint) can cover for the DataLake SDK: filesystem
 * lifecycle and blob-level reads of blobs written through the Blob API. DFS writes fail there.
 */
describe('DataLake SDK against real Azurite (blob endpoint only)', () => {
  let azurite: ChildProcess | undefined;
  let blobUrl = '';
  const account = 'devstoreaccount1';
  const wellKnownKey =
    'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

  before(async () => {
    const bin = path.resolve('node_modules/.bin/azurite-blob');
    azurite = spawn(
      bin,
      [
        '--silent',
        '--inMemoryPersistence',
        '--skipApiVersionCheck',
        '--blobPort',
        '0',
        '--blobHost',
        '127.0.0.1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    blobUrl = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`azurite did not start: ${output}`)), 10_000);
      azurite?.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /(?:listening at|listens on) (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(`${match[1]}/${account}`);
        }
      });
      azurite?.once('exit', (code) => reject(new Error(`azurite exited ${code}: ${output}`)));
    });
  });

  after(async () => {
    if (azurite === undefined || azurite.exitCode !== null) return;
    const exited = new Promise((resolve) => azurite?.once('exit', resolve));
    azurite.kill('SIGTERM');
    await exited;
  });

  it('filesystem create/exists/delete and reads of Blob-API blobs work; DFS writes do not', async () => {
    const datalake = new DataLakeServiceClient(
      blobUrl,
      new StorageSharedKeyCredential(account, wellKnownKey),
      { retryOptions: { maxTries: 1 } },
    );
    const fileSystem = datalake.getFileSystemClient('azurite-fs');
    assert.equal((await fileSystem.createIfNotExists()).succeeded, true);
    assert.equal(await fileSystem.exists(), true);

    const blobs = new BlobServiceClient(blobUrl, new BlobSharedKey(account, wellKnownKey));
    const content = 'written through the Blob API';
    await blobs
      .getContainerClient('azurite-fs')
      .getBlockBlobClient('dir/blob.txt')
      .upload(content, content.length);

    const lake = new AdlsLake({ fileSystem, retry: { attempts: 1 } });
    assert.equal((await lake.read('dir/blob.txt')).toString(), content);
    const entry = await lake.stat('dir/blob.txt');
    assert.equal(entry?.size, content.length);
    assert.equal(entry?.isDirectory, false);
    // Path create (PUT ?resource=file) is a DFS call: Azurite answers 400 with no error code.
    await rejectsWith(lake.write('dir/new.txt', 'x'), 'validation');

    assert.equal((await fileSystem.deleteIfExists()).succeeded, true);
    assert.equal(await fileSystem.exists(), false);
  });
});
