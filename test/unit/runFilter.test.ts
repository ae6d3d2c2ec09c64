import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bestTrialQuery,
  compareRuns,
  formatMlflowNumber,
  matchesRunFilter,
  parseKeyValues,
  parseMaxResults,
  parseMetricCondition,
  parseOrderBy,
  parseRunQuery,
  quoteMlflowKey,
  quoteMlflowString,
  selectRuns,
  toMlflowFilter,
  toMlflowOrderBy,
  trackerKeySchema,
  type SearchableRun,
} from '../../shared/domain/runFilter.js';
import { expectBatonError } from './batonErrorAssert.js';

describe('trackerKeySchema: MLflow key rules', () => {
  it('accepts letters, digits, _ - . / and space', () => {
    for (const key of ['f1', 'val/loss', 'macro-f1', 'data set', 'a.b_c', 'x'.repeat(250)]) {
      assert.ok(trackerKeySchema.safeParse(key).success, key);
    }
  });

  it('refuses other characters, path tricks, over-long keys and __proto__', () => {
    for (const key of [
      '',
      'a:b',
      'a=b',
      "it's",
      'a`b',
      '/a',
      'a/',
      'a//b',
      './a',
      'a/../b',
      '..',
      'x'.repeat(251),
      '__proto__',
    ]) {
      assert.equal(trackerKeySchema.safeParse(key).success, false, key);
    }
  });
});

describe('parseMetricCondition', () => {
  it('reads KEY OP NUMBER with every operator, spaces allowed', () => {
    assert.deepEqual(parseMetricCondition('f1>0.8'), { key: 'f1', op: '>', value: 0.8 });
    assert.deepEqual(parseMetricCondition('loss<=0.2'), { key: 'loss', op: '<=', value: 0.2 });
    assert.deepEqual(parseMetricCondition(' val f1 >= 1e-3 '), {
      key: 'val f1',
      op: '>=',
      value: 0.001,
    });
    assert.deepEqual(parseMetricCondition('val/loss<-.5'), {
      key: 'val/loss',
      op: '<',
      value: -0.5,
    });
    assert.deepEqual(parseMetricCondition('epoch=3'), { key: 'epoch', op: '=', value: 3 });
  });

  it('names the flag in every error', () => {
    for (const text of [
      'f1',
      'f1>',
      '>0.8',
      'f1>abc',
      'f1>0x10',
      'f1>1e999',
      'f1!=2',
      'bad:key>1',
    ]) {
      const error = expectBatonError(() => parseMetricCondition(text, '--metric'));
      assert.equal(error.field, '--metric', text);
      assert.match(error.message, /^--metric: /);
    }
  });
});

describe('parseKeyValues (--tag, --param)', () => {
  it('splits at the first =, keeps = in the value and allows an empty value', () => {
    assert.deepEqual(parseKeyValues(['model=bert', 'expr=a=b', 'note=', 'model=bert'], '--tag'), {
      model: 'bert',
      expr: 'a=b',
      note: '',
    });
  });

  it('refuses a missing =, a bad key, a reserved tag and one key with two values', () => {
    for (const texts of [['model'], ['=v'], ['a:b=1'], ['mlflow.user=x'], ['k=1', 'k=2']]) {
      assert.equal(expectBatonError(() => parseKeyValues(texts, '--tag')).field, '--tag');
    }
    // Reserved prefixes concern tags only.
    assert.deepEqual(parseKeyValues(['mlflow.x=1'], '--param'), { 'mlflow.x': '1' });
  });
});

describe('parseOrderBy', () => {
  it('reads metric., param. and attribute. keys with an optional direction', () => {
    assert.deepEqual(parseOrderBy('metric.f1'), { kind: 'metric', key: 'f1', direction: 'ASC' });
    assert.deepEqual(parseOrderBy('metrics.f1 DESC'), {
      kind: 'metric',
      key: 'f1',
      direction: 'DESC',
    });
    assert.deepEqual(parseOrderBy('param.lr desc'), {
      kind: 'param',
      key: 'lr',
      direction: 'DESC',
    });
    assert.deepEqual(parseOrderBy('attribute.start_time ASC'), {
      kind: 'attribute',
      key: 'start_time',
      direction: 'ASC',
    });
    assert.deepEqual(parseOrderBy('metric.val.f1 DESC'), {
      kind: 'metric',
      key: 'val.f1',
      direction: 'DESC',
    });
    assert.deepEqual(parseOrderBy('metric.`macro f1` DESC'), {
      kind: 'metric',
      key: 'macro f1',
      direction: 'DESC',
    });
  });

  it('names the flag for an unknown kind, attribute or key', () => {
    for (const text of ['f1', 'tag.x', 'attribute.color', 'metric.', 'metric.a:b', '']) {
      assert.equal(expectBatonError(() => parseOrderBy(text)).field, '--order-by', text);
    }
  });
});

describe('parseMaxResults and parseRunQuery', () => {
  it('accepts 1..50000 only', () => {
    assert.equal(parseMaxResults('5'), 5);
    assert.equal(parseMaxResults('50000'), 50_000);
    for (const text of ['0', '-1', '1.5', 'five', '', '50001', '1e3']) {
      assert.equal(expectBatonError(() => parseMaxResults(text)).field, '--max', text);
    }
  });

  it('combines the flags of `baton runs find` into one query', () => {
    assert.deepEqual(
      parseRunQuery({
        tag: ['model=bert'],
        param: ['lr=0.01'],
        metric: ['f1>0.8', 'loss<0.3'],
        status: 'finished',
        parent: 'abc123',
        orderBy: 'metric.f1 DESC',
        max: '5',
      }),
      {
        filter: {
          tags: { model: 'bert' },
          params: { lr: '0.01' },
          metrics: [
            { key: 'f1', op: '>', value: 0.8 },
            { key: 'loss', op: '<', value: 0.3 },
          ],
          status: 'FINISHED',
          parentRunId: 'abc123',
        },
        orderBy: { kind: 'metric', key: 'f1', direction: 'DESC' },
        maxResults: 5,
      },
    );
    assert.deepEqual(parseRunQuery({}), { filter: {} });
    assert.equal(expectBatonError(() => parseRunQuery({ status: 'DONE' })).field, '--status');
    assert.equal(expectBatonError(() => parseRunQuery({ parent: 'a/b' })).field, '--parent');
    assert.equal(expectBatonError(() => parseRunQuery({ metric: ['f1'] })).field, '--metric');
  });
});

describe('toMlflowFilter and toMlflowOrderBy', () => {
  it('writes MLflow search syntax, AND-ed', () => {
    assert.equal(
      toMlflowFilter({ metrics: [{ key: 'f1', op: '>', value: 0.8 }], tags: { k: 'v' } }),
      "metrics.f1 > 0.8 and tags.k = 'v'",
    );
    assert.equal(toMlflowFilter({}), '');
    assert.equal(
      toMlflowFilter({
        metrics: [{ key: 'val/loss', op: '<=', value: 0.2 }],
        params: { lr: '0.01' },
        tags: { 'data set': "it's v2" },
        parentRunId: 'r1',
        status: 'FINISHED',
      }),
      "metrics.`val/loss` <= 0.2 and params.lr = '0.01' and tags.`data set` = \"it's v2\" and " +
        "tags.`mlflow.parentRunId` = 'r1' and attributes.status = 'FINISHED'",
    );
  });

  it('writes numbers sqlparse reads: no + in exponents, no -0', () => {
    assert.equal(formatMlflowNumber(1e21), '1e21');
    assert.equal(formatMlflowNumber(1e-7), '1e-7');
    assert.equal(formatMlflowNumber(-0), '0');
    expectBatonError(() => formatMlflowNumber(Number.POSITIVE_INFINITY));
  });

  it('refuses what MLflow cannot express, naming the field', () => {
    assert.equal(
      expectBatonError(() => toMlflowFilter({ tags: { k: `it's "x"` } })).field,
      'filter.tags.k',
    );
    assert.equal(
      expectBatonError(() => toMlflowFilter({ params: { p: 'C:\\' } })).field,
      'filter.params.p',
    );
    expectBatonError(() => quoteMlflowKey('a`b'));
  });

  it('writes order_by clauses', () => {
    assert.equal(
      toMlflowOrderBy({ kind: 'metric', key: 'f1', direction: 'DESC' }),
      'metrics.f1 DESC',
    );
    assert.equal(
      toMlflowOrderBy({ kind: 'param', key: 'lr rate', direction: 'ASC' }),
      'params.`lr rate` ASC',
    );
    assert.equal(
      toMlflowOrderBy({ kind: 'attribute', key: 'start_time', direction: 'ASC' }),
      'attributes.start_time ASC',
    );
  });

  it("round-trips every key and value through MLflow's unquoting (strip one pair of quotes)", () => {
    const strip = (text: string): string => {
      const q = text[0];
      return text.length >= 2 && (q === '`' || q === "'" || q === '"') && text.endsWith(q)
        ? text.slice(1, -1)
        : text;
    };
    const keyChar = fc.constantFrom(...'abzAZ09_-. '.split(''));
    fc.assert(
      fc.property(fc.string({ unit: keyChar, minLength: 1, maxLength: 20 }), (key) => {
        assert.equal(strip(quoteMlflowKey(key)), key);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc
          .string({ maxLength: 30 })
          .filter((v) => !(v.includes("'") && v.includes('"')) && !v.endsWith('\\')),
        (value) => {
          assert.equal(strip(quoteMlflowString(value)), value);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('in-memory evaluation (MLflow semantics)', () => {
  const run = (
    runId: string,
    startTime: number,
    extra: Partial<SearchableRun> = {},
  ): SearchableRun => ({
    runId,
    status: 'FINISHED',
    startTime,
    params: {},
    tags: {},
    metrics: {},
    ...extra,
  });
  const a = run('a', 3, {
    metrics: { f1: 0.9 },
    params: { lr: '0.1' },
    tags: { m: 'x' },
    parentRunId: 'p',
  });
  const b = run('b', 2, {
    metrics: { f1: 0.7 },
    params: { lr: '0.01' },
    status: 'FAILED',
    parentRunId: 'p',
  });
  const c = run('c', 1, { tags: { m: 'x' } });

  it('matches every condition; a missing metric, param or tag never matches', () => {
    assert.ok(
      matchesRunFilter(a, { metrics: [{ key: 'f1', op: '>=', value: 0.9 }], tags: { m: 'x' } }),
    );
    assert.ok(!matchesRunFilter(c, { metrics: [{ key: 'f1', op: '<', value: 1 }] }));
    assert.ok(!matchesRunFilter(c, { params: { lr: '0.1' } }));
    assert.ok(matchesRunFilter(b, { parentRunId: 'p', status: 'FAILED' }));
    assert.ok(!matchesRunFilter(c, { parentRunId: 'p' }));
    // Own properties only: an inherited name is not a metric.
    assert.ok(!matchesRunFilter(c, { metrics: [{ key: 'constructor', op: '>', value: 0 }] }));
  });

  it('orders missing values last either way; ties by newest start, then run id', () => {
    const ids = (list: SearchableRun[]) => list.map((r) => r.runId);
    assert.deepEqual(
      ids([c, b, a].sort(compareRuns({ kind: 'metric', key: 'f1', direction: 'DESC' }))),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(
      ids([c, b, a].sort(compareRuns({ kind: 'metric', key: 'f1', direction: 'ASC' }))),
      ['b', 'a', 'c'],
    );
    assert.deepEqual(ids([a, b, c].sort(compareRuns())), ['a', 'b', 'c']);
    const twins = [run('z', 5), run('y', 5)];
    assert.deepEqual(ids(twins.sort(compareRuns())), ['y', 'z']);
    assert.deepEqual(
      ids(
        selectRuns([a, b, c], {
          filter: { tags: { m: 'x' } },
          orderBy: { kind: 'attribute', key: 'start_time', direction: 'ASC' },
          maxResults: 1,
        }),
      ),
      ['c'],
    );
  });

  it('bestTrialQuery asks for the finished children, best first, one result', () => {
    assert.deepEqual(bestTrialQuery({ sweepRunId: 'p', metric: 'loss', goal: 'minimize' }), {
      filter: { parentRunId: 'p', status: 'FINISHED' },
      orderBy: { kind: 'metric', key: 'loss', direction: 'ASC' },
      maxResults: 1,
    });
    const best = selectRuns(
      [a, b, c],
      bestTrialQuery({ sweepRunId: 'p', metric: 'f1', goal: 'maximize', status: 'FAILED' }),
    );
    assert.deepEqual(
      best.map((r) => r.runId),
      ['b'],
    );
  });
});
