import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { runCli } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Datasets end to end on an in-process local host: the `/api/datasets` routes (with the caller
 * from `x-baton-user`) including hostile names and paths, then `baton dataset ...` against it.
 */
interface Dataset {
  name: string;
  owner: string;
  path: string;
  kind: string;
  items: number;
  bytes: number;
  registeredBy: string;
}
interface DatasetView extends Dataset {
  present: boolean;
  files: Array<{ name: string; path: string; bytes: number }>;
}
interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

describe('datasets over HTTP and the CLI', () => {
  let stateDir: string;
  let host: LocalHost;
  const lakeFile = async (rel: string, content: string): Promise<void> => {
    const full = path.join(stateDir, 'lake', ...rel.split('/'));
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  };

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-datasets-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
    await lakeFile('alice/data.pic', 'hello');
    await lakeFile('alice/configs/one.json', '{}');
    await lakeFile('alice/configs/two.json', '[1]');
    await lakeFile('bob/sample.csv', 'a,b\n');
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  async function call<T>(
    method: string,
    route: string,
    options: { user?: string; body?: string } = {},
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(`${host.url}/api/${route}`, {
      method,
      headers:
        options.user === undefined ? { 'content-type': 'application/json' } : asUser(options.user),
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  describe('HTTP', () => {
    it('registers, lists, shows and deletes as the calling user', async () => {
      const created = await call<Dataset>('POST', 'datasets', {
        user: 'alice',
        body: JSON.stringify({ name: 'user.alice.configs', path: 'alice/configs/' }),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.kind, 'folder');
      assert.equal(created.body.items, 2);
      assert.equal(created.body.registeredBy, 'alice');

      const again = await call<ErrorBody>('POST', 'datasets', {
        user: 'alice',
        body: JSON.stringify({ name: 'user.alice.configs', path: 'alice/data.pic' }),
      });
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'conflict');

      const foreign = await call<ErrorBody>('POST', 'datasets', {
        user: 'bob',
        body: JSON.stringify({ name: 'user.alice.mine', path: 'bob/sample.csv' }),
      });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.body.error.code, 'forbidden');

      const anonymous = await call<ErrorBody>('POST', 'datasets', {
        body: JSON.stringify({ name: 'user.alice.anon', path: 'alice/data.pic' }),
      });
      assert.equal(anonymous.status, 401, 'no one signed in: refused before the app looks');

      const missing = await call<ErrorBody>('POST', 'datasets', {
        user: 'alice',
        body: JSON.stringify({ name: 'user.alice.none', path: 'alice/none.csv' }),
      });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.field, 'path');

      const list = await call<Dataset[]>('GET', 'datasets?owner=alice');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.map((d) => d.name),
        ['user.alice.configs'],
      );
      assert.deepEqual((await call<Dataset[]>('GET', 'datasets?owner=bob')).body, []);

      const shown = await call<DatasetView>('GET', 'datasets/user.alice.configs');
      assert.equal(shown.status, 200);
      assert.deepEqual(
        shown.body.files.map((f) => f.path),
        ['alice/configs/one.json', 'alice/configs/two.json'],
      );

      const notOwner = await call<ErrorBody>('DELETE', 'datasets/user.alice.configs', {
        user: 'bob',
      });
      assert.equal(notOwner.status, 403);
      const deleted = await call<{ filesRemoved: boolean }>(
        'DELETE',
        'datasets/user.alice.configs?removeFiles=true',
        { user: 'alice' },
      );
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal(deleted.body.filesRemoved, true);
      await assert.rejects(stat(path.join(stateDir, 'lake', 'alice', 'configs')));
      assert.equal((await call('GET', 'datasets/user.alice.configs')).status, 404);
    });

    it('answers hostile names, paths and queries with 4xx error bodies', async () => {
      const names = [
        '..',
        '..%2F..%2Fetc',
        '%2E%2E',
        'user.alice.a%2Fb',
        'user.alice.%2E%2E',
        'user.alice..x',
        'user.alice.x%00',
        'user.Alice.x',
        `user.alice.${'x'.repeat(300)}`,
        'user.alice.%E2%80%AE',
        'user..x',
        'null',
      ];
      for (const name of names) {
        for (const method of ['GET', 'DELETE']) {
          const reply = await call<ErrorBody | undefined>(method, `datasets/${name}`, {
            user: 'alice',
          });
          const where = `${method} ${name} -> ${reply.status} ${JSON.stringify(reply.body)}`;
          assert.ok(reply.status >= 400 && reply.status < 500, where);
          if (reply.body !== undefined) assert.equal(typeof reply.body.error.code, 'string', where);
        }
      }
      const bodies: Array<[unknown, string]> = [
        [{ name: 'user.alice.x', path: '../../etc/passwd' }, 'path'],
        [{ name: 'user.alice.x', path: '/etc/passwd' }, 'path'],
        [{ name: 'user.alice.x', path: 'alice\\data.pic' }, 'path'],
        [{ name: 'user.alice.x', path: '.' }, 'path'],
        [{ name: 'user.alice.x', path: 'alice/.baton-tmp-x' }, 'path'],
        [{ name: 'user.alice.../x', path: 'alice/data.pic' }, 'name'],
        [{ name: 7, path: 'alice/data.pic' }, 'body.name'],
        [{ name: 'user.alice.x', path: 'alice/data.pic', owner: 'bob' }, 'body'],
      ];
      for (const [body, field] of bodies) {
        const reply = await call<ErrorBody>('POST', 'datasets', {
          user: 'alice',
          body: JSON.stringify(body),
        });
        assert.equal(reply.status, 400, `${JSON.stringify(body)} -> ${JSON.stringify(reply.body)}`);
        assert.equal(reply.body.error.code, 'validation');
        assert.equal(reply.body.error.field, field, JSON.stringify(reply.body));
      }
      const badJson = await call<ErrorBody>('POST', 'datasets', { user: 'alice', body: '{' });
      assert.equal(badJson.status, 400);
      const badOwner = await call<ErrorBody>('GET', 'datasets?owner=..%2Fx');
      assert.equal(badOwner.status, 400);
      assert.equal(badOwner.body.error.field, 'query.owner');
      const badFlag = await call<ErrorBody>('DELETE', 'datasets/user.alice.x?removeFiles=yes', {
        user: 'alice',
      });
      assert.equal(badFlag.status, 400);
      assert.deepEqual((await call<Dataset[]>('GET', 'datasets')).body, []);
    });
  });

  describe('CLI', () => {
    const cli = (...args: string[]) => runCli(['--endpoint', host.url, '--user', 'bob', ...args]);

    it('registers, lists, shows and deletes with --json', { timeout: 60_000 }, async () => {
      const registered = await cli(
        'dataset',
        'register',
        '-d',
        'user.bob.sample',
        '-p',
        'bob/sample.csv',
        '--json',
      );
      assert.equal(registered.code, 0, registered.stderr);
      const record = JSON.parse(registered.stdout) as Dataset;
      assert.equal(record.owner, 'bob');
      assert.equal(record.kind, 'file');
      assert.equal(record.items, 1);
      assert.equal(record.bytes, 4);

      const listed = await cli('--json', 'dataset', 'list', '-u', 'bob');
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as Dataset[]).map((d) => d.name),
        ['user.bob.sample'],
      );
      const human = await cli('dataset', 'list');
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^DATASET\s+KIND\s+ITEMS/);
      assert.match(human.stdout, /user\.bob\.sample\s+file\s+1\s+4 B\s+bob\/sample\.csv/);

      const shown = await cli('dataset', 'show', 'user.bob.sample', '--json');
      assert.equal(shown.code, 0, shown.stderr);
      const view = JSON.parse(shown.stdout) as DatasetView;
      assert.deepEqual(view.files, [{ path: 'bob/sample.csv', name: 'sample.csv', bytes: 4 }]);
      const shownHuman = await cli('dataset', 'show', 'user.bob.sample');
      assert.match(shownHuman.stdout, /dataset\s+user\.bob\.sample/);
      assert.match(shownHuman.stdout, /sample\.csv\s+4 B/);

      const deleted = await cli('dataset', 'delete', 'user.bob.sample', '--json');
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.deepEqual(JSON.parse(deleted.stdout), {
        name: 'user.bob.sample',
        deleted: true,
        filesRemoved: false,
      });
      await stat(path.join(stateDir, 'lake', 'bob', 'sample.csv'));
      const gone = await cli('dataset', 'show', 'user.bob.sample');
      assert.equal(gone.code, 2);
      assert.match(gone.stderr, /not found/);
    });

    it(
      'exits 2 on a bad name, a foreign owner or a missing path',
      { timeout: 60_000 },
      async () => {
        const cases: Array<[string[], RegExp]> = [
          [['dataset', 'register', '-d', 'bob.sample', '-p', 'bob/sample.csv'], /--dataset/],
          [['dataset', 'register', '-d', 'user.bob.a/b', '-p', 'bob/sample.csv'], /separator/],
          [
            ['dataset', 'register', '-d', 'user.alice.x', '-p', 'bob/sample.csv'],
            /belong to alice/,
          ],
          [['dataset', 'register', '-d', 'user.bob.x', '-p', 'bob/none.csv'], /does not exist/],
          [['dataset', 'register', '-d', 'user.bob.x', '-p', '../etc'], /path/],
          [['dataset', 'register', '-d', 'user.bob.x'], /--path/],
          [['dataset', 'show', '../etc'], /name/],
          [['dataset', 'delete', 'user..x'], /owner/],
          [['dataset', 'list', '-u', 'Not Valid'], /query\.owner/],
        ];
        for (const [args, pattern] of cases) {
          const result = await cli(...args);
          assert.equal(result.code, 2, `${args.join(' ')} -> ${result.code}: ${result.stderr}`);
          assert.match(result.stderr, pattern, args.join(' '));
          assert.doesNotMatch(result.stderr, /\n\s+at /, `stack trace for ${args.join(' ')}`);
        }
        const json = await cli('--json', 'dataset', 'show', 'user.bob');
        assert.equal(json.code, 2);
        const body = JSON.parse(json.stdout) as ErrorBody;
        assert.equal(body.error.code, 'validation');
        assert.equal(body.error.field, 'name');
      },
    );
  });
});
