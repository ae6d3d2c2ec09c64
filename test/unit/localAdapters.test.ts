import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { FileBus } from '../../shared/adapters/local/fileBus.js';
import { FileLogStore } from '../../shared/adapters/local/fileLogStore.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { encodeName } from '../../shared/adapters/local/fsPrimitives.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { isBatonError } from '../../shared/domain/errors.js';
import type { ErrorCode } from '../../shared/domain/errors.js';
import type { Clock } from '../../shared/ports/clock.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const adapterUrl = (file: string): string =>
  pathToFileURL(path.join(repoRoot, 'shared', 'adapters', 'local', file)).href;

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

let scratch = '';
before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-local-adapters-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let folders = 0;
async function freshDir(kind: string): Promise<string> {
  const dir = path.join(scratch, `${kind}-${++folders}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walkFiles(full)));
    else out.push(full);
  }
  return out;
}

/** Runs a TypeScript snippet in a separate Node process and returns what it printed as JSON. */
async function runChild(source: string): Promise<unknown> {
  const file = path.join(scratch, `child-${++folders}.mts`);
  await writeFile(file, source);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], {
    cwd: repoRoot,
    timeout: 20_000,
  });
  return JSON.parse(stdout) as unknown;
}

function manualClock(
  start = Date.parse('2024-05-01T12:00:00Z'),
): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => new Date(now), advance: (ms) => (now += ms) };
}

describe('FileStateStore (local specifics)', () => {
  it('maps hostile ids to distinct files that all stay inside the root', async () => {
    const root = await freshDir('state');
    const store = new FileStateStore({ root });
    const ids = [
      '..',
      '.',
      '../../etc/passwd',
      'a/b',
      'a\\b',
      'A',
      'a',
      'CON',
      'é',
      'e\u0301',
      'x'.repeat(255),
      'y'.repeat(255),
    ];
    for (const id of ids) await store.create('runs', { id, pk: '../pk', body: { id } });
    for (const id of ids) assert.deepEqual((await store.read('runs', '../pk', id))?.body, { id });
    const files = await walkFiles(root);
    assert.equal(files.length, ids.length);
    for (const file of files) {
      assert.ok(file.startsWith(root + path.sep), file);
      assert.match(path.basename(file), /^(?:~[0-9a-f]{64}|(?:[a-z0-9_-]|%[0-9A-F]{2})+)\.json$/);
    }
  });

  it('encodes names injectively and without dots or upper case', () => {
    assert.equal(encodeName('run-1_a'), 'run-1_a');
    assert.equal(encodeName('..'), '%2E%2E');
    assert.equal(encodeName('A'), '%41');
    assert.notEqual(encodeName('%41'), encodeName('A'));
    assert.match(encodeName('z'.repeat(255)), /^~[0-9a-f]{64}$/);
  });

  it('rejects NUL, over-long and non-string names with validation', async () => {
    const store = new FileStateStore({ root: await freshDir('state') });
    await rejectsWith(store.create('runs', { id: 'a\0b', pk: 'p', body: {} }), 'validation');
    await rejectsWith(
      store.create('runs', { id: 'x'.repeat(256), pk: 'p', body: {} }),
      'validation',
    );
    await rejectsWith(store.read('runs', 'p\0', 'a'), 'validation');
    await rejectsWith(store.query('c\0'), 'validation');
    await rejectsWith(store.query('runs', { limit: -1 }), 'validation');
    await rejectsWith(
      store.create('runs', { id: 42 as unknown as string, pk: 'p', body: {} }),
      'validation',
    );
  });

  it('ignores a temp file left by a crashed write, and the next write of that document removes it', async () => {
    const root = await freshDir('state');
    const store = new FileStateStore({ root });
    const created = await store.create('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
    const [docFile] = await walkFiles(root);
    assert.ok(docFile);
    const torn = path.join(path.dirname(docFile), `.${path.basename(docFile)}.dead-writer.tmp`);
    await writeFile(torn, '{"id":"r1","pk":"p1","etag":"x","bo');

    assert.deepEqual(await store.read('runs', 'p1', 'r1'), created);
    assert.deepEqual(await store.query('runs'), [created]);
    await store.replace('runs', { id: 'r1', pk: 'p1', body: { v: 2 } }, created.etag);
    await assert.rejects(stat(torn), { code: 'ENOENT' });
  });

  it('breaks a lock file left by a crashed process once it is stale', async () => {
    const root = await freshDir('state');
    const store = new FileStateStore({ root, lockStaleMs: 500 });
    const created = await store.create('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
    const [docFile] = await walkFiles(root);
    assert.ok(docFile);
    const lockFile = docFile.replace(/\.json$/, '.lock');
    await writeFile(lockFile, 'crashed-holder');
    const old = new Date(Date.now() - 60_000);
    await utimes(lockFile, old, old);

    // Were the lock not broken, this would time out with `unavailable` after 3 × lockStaleMs.
    await store.replace('runs', { id: 'r1', pk: 'p1', body: { v: 2 } }, created.etag);
    await assert.rejects(stat(lockFile), { code: 'ENOENT' });
  });

  it('waits for a fresh lock held by someone else, then proceeds', async () => {
    const root = await freshDir('state');
    const store = new FileStateStore({ root, lockStaleMs: 5_000 });
    const created = await store.create('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
    const [docFile] = await walkFiles(root);
    assert.ok(docFile);
    const lockFile = docFile.replace(/\.json$/, '.lock');
    await writeFile(lockFile, 'other-process');

    let settled = false;
    const pending = store
      .replace('runs', { id: 'r1', pk: 'p1', body: { v: 2 } }, created.etag)
      .finally(() => {
        settled = true;
      });
    await sleep(150);
    assert.equal(settled, false, 'must not write while another holder has the lock');
    assert.deepEqual((await store.read('runs', 'p1', 'r1'))?.body, { v: 1 });
    await rm(lockFile);
    assert.deepEqual((await pending).body, { v: 2 });
  });

  it('is race-free across processes: creates conflict, etag increments are never lost', async () => {
    const root = await freshDir('state');
    await new FileStateStore({ root }).create('runs', { id: 'counter', pk: 'p', body: { n: 0 } });
    const child = `
      import { FileStateStore } from ${JSON.stringify(adapterUrl('fileStateStore.ts'))};
      import { isBatonError } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'shared/domain/errors.ts')).href)};
      const store = new FileStateStore({ root: ${JSON.stringify(root)} });
      let created = 0;
      await Promise.all(Array.from({ length: 5 }, async (_, i) => {
        try { await store.create('runs', { id: 'once-' + i, pk: 'p', body: { pid: process.pid } }); created++; }
        catch (err) { if (!isBatonError(err, 'conflict')) throw err; }
      }));
      for (let i = 0; i < 10; i++) {
        for (;;) {
          const doc = await store.read('runs', 'p', 'counter');
          try { await store.replace('runs', { id: 'counter', pk: 'p', body: { n: doc.body.n + 1 } }, doc.etag); break; }
          catch (err) { if (!isBatonError(err, 'precondition_failed')) throw err; }
        }
      }
      console.log(JSON.stringify({ created }));
    `;
    const results = (await Promise.all([
      runChild(child),
      runChild(child),
      runChild(child),
    ])) as Array<{ created: number }>;
    assert.equal(
      results.reduce((sum, r) => sum + r.created, 0),
      5,
      'each id created exactly once',
    );
    const store = new FileStateStore({ root });
    assert.deepEqual((await store.read('runs', 'p', 'counter'))?.body, { n: 30 });
  });
});

describe('FolderLake (local specifics)', () => {
  it('hides in-flight temp files from listings and reserves their names', async () => {
    const root = await freshDir('lake');
    const lake = new FolderLake({ root });
    await lake.write('runs/a.txt', 'a');
    await writeFile(path.join(root, 'runs', '.baton-tmp-crashed'), 'half');
    assert.deepEqual(
      (await lake.list('', { recursive: true })).map((e) => e.path),
      ['runs', 'runs/a.txt'],
    );
    await rejectsWith(lake.write('runs/.baton-tmp-x', 'x'), 'validation');
    await rejectsWith(lake.read('runs/.baton-tmp-crashed'), 'validation');
  });

  it('refuses symlinks that lead outside the root', async () => {
    const base = await freshDir('lake');
    const root = path.join(base, 'lake');
    const outside = path.join(base, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret.txt'), 'secret');
    await symlink(outside, path.join(root, 'escape'));
    await symlink(path.join(outside, 'secret.txt'), path.join(root, 'link.txt'));
    const lake = new FolderLake({ root });

    await rejectsWith(lake.read('escape/secret.txt'), 'forbidden');
    await rejectsWith(lake.read('link.txt'), 'forbidden');
    await rejectsWith(lake.stat('link.txt'), 'forbidden');
    await rejectsWith(lake.downloadFile('link.txt', path.join(base, 'copy.txt')), 'forbidden');
    await rejectsWith(lake.list('escape'), 'forbidden');
    await rejectsWith(lake.write('escape/new.txt', 'x'), 'forbidden');
    await rejectsWith(lake.write('escape/deeper/new.txt', 'x'), 'forbidden');
    await rejectsWith(lake.delete('escape/secret.txt'), 'forbidden');
    assert.deepEqual((await readdir(outside)).sort(), ['secret.txt']);
    assert.deepEqual(await lake.list(''), [], 'outside links are not listed');

    assert.equal(await lake.delete('escape'), true, 'removes the link itself');
    assert.equal(await readFile(path.join(outside, 'secret.txt'), 'utf8'), 'secret');
  });

  it('follows symlinks that stay inside the root', async () => {
    const root = await freshDir('lake');
    const lake = new FolderLake({ root });
    await lake.write('data/real.txt', 'inside');
    await symlink(path.join(root, 'data', 'real.txt'), path.join(root, 'alias.txt'));
    assert.equal((await lake.read('alias.txt')).toString(), 'inside');
    assert.equal((await lake.stat('alias.txt'))?.size, 6);
  });

  it('touches nothing outside the root for escaping paths', async () => {
    const base = await freshDir('lake');
    const lake = new FolderLake({ root: path.join(base, 'lake') });
    for (const bad of ['../x', 'a/../../b', '../lake2/y']) {
      await rejectsWith(lake.write(bad, 'x'), 'validation');
    }
    assert.deepEqual(await readdir(base), []);
  });

  it('maps a file on the way to conflict, and reading a folder to validation', async () => {
    const lake = new FolderLake({ root: await freshDir('lake') });
    await lake.write('a', 'file');
    await rejectsWith(lake.write('a/b.txt', 'x'), 'conflict');
    await lake.write('dir/f.txt', 'x');
    await rejectsWith(lake.write('dir', 'x'), 'conflict');
    await rejectsWith(lake.read('dir'), 'validation');
    await rejectsWith(lake.list('a'), 'validation');
  });
});

describe('FileBus (local specifics)', () => {
  it('survives a restart: unfinished messages remain, a dead holder’s lock expires', async () => {
    const root = await freshDir('bus');
    const clock = manualClock();
    const first = new FileBus({ root, clock, lockDurationMs: 30_000 });
    await first.send(
      'jobs',
      ['m1', 'm2', 'm3'].map((messageId) => ({ messageId, body: { messageId } })),
    );
    const [held] = await first.receive('jobs');
    assert.equal(held?.messageId, 'm1');
    // `first` now "dies" holding the lock on m1.

    const second = new FileBus({ root, clock, lockDurationMs: 30_000 });
    const available = await second.receive('jobs', { maxMessages: 10 });
    assert.deepEqual(
      available.map((m) => [m.messageId, m.deliveryCount]),
      [
        ['m2', 1],
        ['m3', 1],
      ],
    );
    assert.deepEqual(await second.receive('jobs'), [], 'm1 is still locked');
    clock.advance(30_001);
    const [recovered] = await second.receive('jobs');
    assert.ok(recovered);
    assert.equal(recovered.messageId, 'm1');
    assert.equal(recovered.deliveryCount, 2);
    await second.complete('jobs', recovered);
  });

  it('keeps dead letters and duplicate detection across a restart', async () => {
    const root = await freshDir('bus');
    const clock = manualClock();
    const first = new FileBus({ root, clock });
    await first.send('jobs', [
      { messageId: 'done', body: 1 },
      { messageId: 'bad', body: 2 },
    ]);
    const [done, bad] = await first.receive('jobs', { maxMessages: 2 });
    assert.ok(done && bad);
    await first.complete('jobs', done);
    await first.deadLetter('jobs', bad, 'Poison', 'unparseable');

    const second = new FileBus({ root, clock });
    await second.send('jobs', [{ messageId: 'done', body: 'again' }]);
    assert.deepEqual(await second.receive('jobs'), []);
    const [dead] = await second.receiveDeadLetters('jobs');
    assert.equal(dead?.messageId, 'bad');
    assert.equal(dead?.deadLetterReason, 'Poison');
    assert.equal(dead?.deadLetterDescription, 'unparseable');
  });

  it('forgets completed ids after the duplicate-detection window', async () => {
    const clock = manualClock();
    const bus = new FileBus({
      root: await freshDir('bus'),
      clock,
      duplicateDetectionWindowMs: 60_000,
    });
    await bus.send('q', [{ messageId: 'm', body: 1 }]);
    const [first] = await bus.receive('q');
    assert.ok(first);
    await bus.complete('q', first);
    clock.advance(59_000);
    await bus.send('q', [{ messageId: 'm', body: 2 }]);
    assert.deepEqual(await bus.receive('q'), []);
    clock.advance(2_000);
    await bus.send('q', [{ messageId: 'm', body: 3 }]);
    assert.equal((await bus.receive('q'))[0]?.body, 3);
  });

  it('judges schedules and lock expiry by the injected clock', async () => {
    const clock = manualClock();
    const bus = new FileBus({
      root: await freshDir('bus'),
      clock,
      lockDurationMs: 1_000,
      maxDeliveryCount: 2,
    });
    const at = new Date(clock.now().getTime() + 5_000).toISOString();
    await bus.send('q', [{ messageId: 's', body: 0, scheduledEnqueueTime: at }]);
    assert.deepEqual(await bus.receive('q'), []);
    clock.advance(5_000);
    assert.equal((await bus.receive('q'))[0]?.deliveryCount, 1);
    clock.advance(1_000);
    assert.equal((await bus.receive('q'))[0]?.deliveryCount, 2);
    clock.advance(1_000);
    assert.deepEqual(await bus.receive('q'), [], 'exhausted by expiries');
    const [dead] = await bus.receiveDeadLetters('q');
    assert.equal(dead?.deadLetterReason, 'MaxDeliveryCountExceeded');
  });

  it('finishes a dead-lettering that a crash interrupted halfway', async () => {
    const root = await freshDir('bus');
    const bus = new FileBus({ root });
    await bus.send('q', [{ messageId: 'half', body: 'h' }]);
    const activeDir = path.join(root, 'q', 'active');
    const [name] = await readdir(activeDir);
    assert.ok(name);
    const record = JSON.parse(await readFile(path.join(activeDir, name), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      path.join(activeDir, name),
      JSON.stringify({ ...record, deadLetterReason: 'Crashed' }),
    );

    assert.deepEqual(await bus.receive('q'), []);
    assert.deepEqual(await readdir(activeDir), []);
    const [dead] = await bus.receiveDeadLetters('q');
    assert.equal(dead?.messageId, 'half');
    assert.equal(dead?.deadLetterReason, 'Crashed');
  });

  it('breaks a stale queue lock, and treats queue names case-insensitively', async () => {
    const root = await freshDir('bus');
    const bus = new FileBus({ root, queueLockStaleMs: 500 });
    await mkdir(path.join(root, 'work'), { recursive: true });
    const lockFile = path.join(root, 'work', 'queue.lock');
    await writeFile(lockFile, 'crashed');
    const old = new Date(Date.now() - 60_000);
    await utimes(lockFile, old, old);
    await bus.send('Work', [{ messageId: 'm', body: 1 }]);
    assert.equal((await bus.receive('work'))[0]?.messageId, 'm');
  });

  it('validates queue names, message ids, schedules and options', async () => {
    const bus = new FileBus({ root: await freshDir('bus') });
    await rejectsWith(bus.send('../q', [{ messageId: 'm', body: 1 }]), 'validation');
    await rejectsWith(bus.receive('a/b'), 'validation');
    await rejectsWith(bus.send('q', [{ messageId: '', body: 1 }]), 'validation');
    await rejectsWith(bus.send('q', [{ messageId: 'x'.repeat(129), body: 1 }]), 'validation');
    await rejectsWith(
      bus.send('q', [{ messageId: 'm', body: 1, scheduledEnqueueTime: 'soon' }]),
      'validation',
    );
    await rejectsWith(bus.send('q', [{ messageId: 'm', body: undefined }]), 'validation');
    await rejectsWith(bus.receive('q', { maxMessages: 0 }), 'validation');
    assert.throws(
      () => new FileBus({ root: scratch, maxDeliveryCount: 0 }),
      (err) => isBatonError(err, 'validation'),
    );
  });

  it('never hands one message to two processes', async () => {
    const root = await freshDir('bus');
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
    await new FileBus({ root }).send(
      'shared',
      ids.map((messageId) => ({ messageId, body: messageId })),
    );
    const child = `
      import { FileBus } from ${JSON.stringify(adapterUrl('fileBus.ts'))};
      const bus = new FileBus({ root: ${JSON.stringify(root)} });
      const got = [];
      for (;;) {
        const batch = await bus.receive('shared', { maxMessages: 2, maxWaitMs: 300 });
        if (batch.length === 0) break;
        for (const message of batch) { got.push(message.messageId); await bus.complete('shared', message); }
      }
      console.log(JSON.stringify(got));
    `;
    const results = (await Promise.all([
      runChild(child),
      runChild(child),
      runChild(child),
    ])) as string[][];
    const all = results.flat();
    assert.equal(all.length, ids.length, 'no message delivered twice');
    assert.deepEqual([...all].sort(), [...ids].sort());
  });
});

describe('FileLogStore (local specifics)', () => {
  const line = (message: string) => ({
    at: '2024-05-01T12:00:00.000Z',
    level: 'info' as const,
    message,
  });

  it('stores <root>/<runId>/<step>.jsonl, one JSON object per line', async () => {
    const root = await freshDir('logs');
    const logs = new FileLogStore({ root });
    await logs.append('r1', 'fit', [line('a'), line('b')]);
    const text = await readFile(path.join(root, 'r1', 'fit.jsonl'), 'utf8');
    assert.deepEqual(text.split('\n'), [JSON.stringify(line('a')), JSON.stringify(line('b')), '']);
  });

  it('skips a line torn by a crash and does not let it swallow the next append', async () => {
    const root = await freshDir('logs');
    const logs = new FileLogStore({ root });
    await logs.append('r1', 'fit', [line('before')]);
    await appendFile(path.join(root, 'r1', 'fit.jsonl'), '{"at":"2024-05-01T12:00:00.000Z","lev');
    await logs.append('r1', 'fit', [line('after')]);
    assert.deepEqual(
      (await logs.read('r1', { step: 'fit' })).map((l) => l.message),
      ['before', 'after'],
    );
  });
});
