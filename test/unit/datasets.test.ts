import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  assertOwner,
  datasetItems,
  formatScopedName,
  maxNameRestLength,
  parseDatasetName,
  parseTaskName,
  type DatasetEntry,
} from '../../shared/domain/datasets.js';
import { lakeTempPrefix } from '../../shared/domain/paths.js';
import { expectBatonError } from './batonErrorAssert.js';

/** Asserts a `validation` error on `field` whose message contains `part`. */
function rejects(name: unknown, part: string, field = 'dataset'): void {
  const parse = field === 'task' ? parseTaskName : parseDatasetName;
  const error = expectBatonError(() => parse(name));
  assert.equal(error.field, field);
  assert.ok(error.message.startsWith(`${field}: `), error.message);
  assert.ok(error.message.includes(part), `${JSON.stringify(error.message)} lacks ${part}`);
}

describe('parseDatasetName', () => {
  it('splits the Orchestra examples into owner and rest', () => {
    assert.deepEqual(parseDatasetName('user.jodafons.my_data_file.pic'), {
      owner: 'jodafons',
      rest: 'my_data_file.pic',
    });
    assert.deepEqual(parseDatasetName('user.jodafons.my_config_files'), {
      owner: 'jodafons',
      rest: 'my_config_files',
    });
    assert.deepEqual(parseTaskName('user.jodafons.my_task_tutorial'), {
      owner: 'jodafons',
      rest: 'my_task_tutorial',
    });
  });

  it('accepts the edges of the policy', () => {
    const longest = `user.${'a'.repeat(32)}.${'Z'.repeat(maxNameRestLength)}`;
    assert.equal(parseDatasetName(longest).rest.length, maxNameRestLength);
    assert.deepEqual(parseDatasetName('user.a.b'), { owner: 'a', rest: 'b' });
    assert.deepEqual(parseDatasetName('user.a-b_9.x-Y_1.2.tar.gz'), {
      owner: 'a-b_9',
      rest: 'x-Y_1.2.tar.gz',
    });
    assert.deepEqual(parseDatasetName('user.a._'), { owner: 'a', rest: '_' });
  });

  it('names a wrong or missing prefix', () => {
    for (const name of ['', 'jodafons.data', 'User.jodafons.data', 'users.jodafons.data', 'user']) {
      rejects(name, 'must start with user.<owner>.');
    }
    rejects(42, 'must be a string');
    rejects(null, 'must be a string');
  });

  it('names a bad owner', () => {
    rejects('user..data', 'the owner after "user." is missing');
    rejects('user.', 'the owner after "user." is missing');
    for (const owner of ['Jodafons', '9lives', '_x', '-x', 'a'.repeat(33), 'jo da', 'jó']) {
      rejects(`user.${owner}.data`, 'the owner must be 1-32 characters');
    }
  });

  it('names a bad rest', () => {
    rejects('user.jodafons', 'the name after "user.jodafons." is missing');
    rejects('user.jodafons.', 'the name after "user.jodafons." is missing');
    rejects(`user.a.${'x'.repeat(maxNameRestLength + 1)}`, 'at most 200 characters');
    rejects('user.a.b/c', 'path separator');
    rejects('user.a.b\\c', 'path separator');
    rejects('user.a.../etc/passwd', 'path separator');
    rejects('user.a.b..c', '".."');
    rejects('user.a...', '".."');
    rejects('user.a..hidden', 'must not start or end with a dot');
    rejects('user.a.b.', 'must not start or end with a dot');
    rejects('user.a.b c', 'character U+0020 is not allowed');
    rejects('user.a.b\u202Ec', 'character U+202E is not allowed');
    rejects('user.a.b$c', 'character U+0024 "$" is not allowed');
    rejects('user.a.é', 'U+00E9 "é"');
    rejects('user.a.b\0', 'must not contain NUL');
  });

  it('applies the same policy to task names, under the field "task"', () => {
    rejects('task1', 'must start with user.<owner>.', 'task');
    rejects('user.a.b/c', 'path separator', 'task');
  });

  it('accepts exactly the names a reference regex accepts (property)', () => {
    const reference =
      /^user\.[a-z][a-z0-9_-]{0,31}\.(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9._-]{1,200}$/s;
    const piece = fc.string({
      unit: fc.constantFrom(...'aZ09._-/\\ é$'.split(''), 'user', '..'),
      maxLength: 12,
    });
    fc.assert(
      fc.property(fc.constantFrom('user.', 'user.x.', 'user.ab-1.', 'usr.', ''), piece, (p, r) => {
        const name = p + r;
        let accepted = true;
        try {
          parseDatasetName(name);
        } catch {
          accepted = false;
        }
        assert.equal(accepted, reference.test(name), name);
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});

describe('assertOwner', () => {
  it('returns the parsed name to its owner', () => {
    assert.deepEqual(assertOwner('user.jodafons.data', 'jodafons'), {
      owner: 'jodafons',
      rest: 'data',
    });
  });

  it('is forbidden to anyone else, for datasets and tasks', () => {
    const dataset = expectBatonError(
      () => assertOwner('user.jodafons.data', 'mallory'),
      'forbidden',
    );
    assert.equal(dataset.field, 'dataset');
    assert.ok(dataset.message.includes('belong to jodafons, not to mallory'), dataset.message);
    const task = expectBatonError(() => assertOwner('user.a.t', 'b', 'task'), 'forbidden');
    assert.equal(task.field, 'task');
    for (const caller of ['', 'JODAFONS', 'jodafons ', 'jodafons.x']) {
      const error = expectBatonError(() => assertOwner('user.jodafons.data', caller), 'forbidden');
      assert.ok(error.message.endsWith('not to the caller'), error.message);
    }
  });

  it('reports a bad name as validation before ownership', () => {
    expectBatonError(() => assertOwner('user.jodafons/x', 'jodafons'), 'validation');
    expectBatonError(() => assertOwner('user.x.a/b', 'mallory'), 'validation');
  });
});

describe('formatScopedName', () => {
  it('builds checked names', () => {
    assert.equal(formatScopedName('jodafons', 'out.v1'), 'user.jodafons.out.v1');
    assert.equal(
      expectBatonError(() => formatScopedName('jodafons', '../x', 'task')).field,
      'task',
    );
  });
});

describe('datasetItems', () => {
  const file = (path: string): DatasetEntry => ({ path, isDirectory: false });
  const dir = (path: string): DatasetEntry => ({ path, isDirectory: true });

  it('a file dataset is one item', () => {
    assert.deepEqual(
      datasetItems('jodafons/files/my_data_file.pic', [file('jodafons/files/my_data_file.pic')]),
      [{ path: 'jodafons/files/my_data_file.pic', name: 'my_data_file.pic' }],
    );
    assert.deepEqual(datasetItems('top.pic', [file('top.pic')]), [
      { path: 'top.pic', name: 'top.pic' },
    ]);
  });

  it('a folder dataset is every file in it, sorted, without folders or hidden files', () => {
    const listing = [
      dir('cfg'),
      file('cfg/b.json'),
      file(`cfg/${lakeTempPrefix}1234`),
      file('cfg/.DS_Store'),
      dir('cfg/sub'),
      file('cfg/sub/c.json'),
      dir('cfg/.cache'),
      file('cfg/.cache/x.json'),
      file('cfg/a.json'),
      file('cfg/B.json'),
      file('cfg/a.json'),
    ];
    assert.deepEqual(datasetItems('cfg/', listing), [
      { path: 'cfg/B.json', name: 'B.json' },
      { path: 'cfg/a.json', name: 'a.json' },
      { path: 'cfg/b.json', name: 'b.json' },
      { path: 'cfg/sub/c.json', name: 'sub/c.json' },
    ]);
  });

  it('an empty folder has no items; the lake root works as a folder', () => {
    assert.deepEqual(datasetItems('cfg', [dir('cfg')]), []);
    assert.deepEqual(datasetItems('cfg', []), []);
    assert.deepEqual(datasetItems('', [file('a'), dir('d'), file('d/b')]), [
      { path: 'a', name: 'a' },
      { path: 'd/b', name: 'd/b' },
    ]);
  });

  it('hidden is judged below the dataset folder only', () => {
    assert.deepEqual(datasetItems('.hidden/cfg', [file('.hidden/cfg/a')]), [
      { path: '.hidden/cfg/a', name: 'a' },
    ]);
    assert.deepEqual(datasetItems('.x.pic', [file('.x.pic')]), [
      { path: '.x.pic', name: '.x.pic' },
    ]);
  });

  it('refuses entries outside the dataset and unsafe paths', () => {
    expectBatonError(() => datasetItems('cfg', [file('cfgx/a')]), 'internal');
    expectBatonError(() => datasetItems('cfg', [file('other/a')]), 'internal');
    expectBatonError(() => datasetItems('../cfg', []), 'validation');
    expectBatonError(() => datasetItems('cfg', [file('cfg/../../etc/passwd')]), 'validation');
  });

  it('is order-independent and idempotent (property)', () => {
    const names = fc.constantFrom('a', 'b', 'B', '.h', `${lakeTempPrefix}x`, 'a.json', 'z9');
    const entry = fc
      .tuple(fc.array(names, { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([parts, isDirectory]) => ({ path: `ds/${parts.join('/')}`, isDirectory }));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
        const items = datasetItems('ds', entries);
        assert.deepEqual(datasetItems('ds', [...entries].reverse()), items);
        const paths = items.map((item) => item.path);
        assert.deepEqual(paths, [...new Set(paths)].sort());
        for (const item of items) {
          assert.ok(!item.name.split('/').some((part) => part.startsWith('.')), item.path);
          assert.ok(
            entries.some((e) => e.path === item.path && !e.isDirectory),
            item.path,
          );
          assert.equal(`ds/${item.name}`, item.path);
        }
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
