import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  histogramOf,
  renderPrometheusText,
  type MetricFamily,
} from '../../shared/domain/prometheusText.js';
import { isBatonError } from '../../shared/domain/errors.js';

/** One exposition sample line: name, optional label set of escaped values, a float. */
const sampleLinePattern =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (?:[+-]Inf|NaN|-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$/;
const commentLinePattern =
  /^# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram))$/;

function assertParses(text: string): void {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    const pattern = line.startsWith('#') ? commentLinePattern : sampleLinePattern;
    assert.match(line, pattern);
  }
}

const families: MetricFamily[] = [
  {
    name: 'zeta_seconds',
    help: 'Durations.',
    type: 'histogram',
    samples: [
      { labels: { hop: 'b' }, ...histogramOf([1, 0.5, 5], [0.2, 0.7, 0.9, 3, 42]) },
      { labels: { hop: 'a' }, ...histogramOf([0.5, 1, 5], []) },
    ],
  },
  {
    name: 'alpha_total',
    help: 'Things.',
    type: 'counter',
    samples: [
      { labels: { z: '1', a: 'x' }, value: 2 },
      { labels: { a: 'w', z: '1' }, value: 1.5 },
      { labels: {}, value: 3 },
    ],
  },
];

describe('renderPrometheusText', () => {
  it('escapes backslash, double quote and newline in label values, and HELP text', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(escapeHelp('say "hi"\\\nnext'), 'say "hi"\\\\\\nnext');
    const text = renderPrometheusText([
      {
        name: 'odd',
        help: 'line one\nline two',
        type: 'gauge',
        samples: [{ labels: { path: 'C:\\data\\"x"\nnew' }, value: 1 }],
      },
    ]);
    assert.equal(
      text,
      '# HELP odd line one\\nline two\n# TYPE odd gauge\nodd{path="C:\\\\data\\\\\\"x\\"\\nnew"} 1\n',
    );
    assertParses(text);
  });

  it('writes histogram buckets cumulative and ascending, +Inf equal to count, then sum and count', () => {
    const text = renderPrometheusText(families);
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('zeta_seconds') && l.includes('hop="b"'));
    assert.deepEqual(lines, [
      'zeta_seconds_bucket{hop="b",le="0.5"} 1',
      'zeta_seconds_bucket{hop="b",le="1"} 3',
      'zeta_seconds_bucket{hop="b",le="5"} 4',
      'zeta_seconds_bucket{hop="b",le="+Inf"} 5',
      `zeta_seconds_sum{hop="b"} ${0.2 + 0.7 + 0.9 + 3 + 42}`,
      'zeta_seconds_count{hop="b"} 5',
    ]);
    assert.match(text, /^zeta_seconds_bucket\{hop="a",le="\+Inf"\} 0$/m);
    assert.match(text, /^zeta_seconds_sum\{hop="a"\} 0$/m);
  });

  it('orders families, series and labels the same way whatever the input order', () => {
    const text = renderPrometheusText(families);
    const reversed = renderPrometheusText(
      [...families]
        .reverse()
        .map((f) => ({ ...f, samples: [...f.samples].reverse() }) as MetricFamily),
    );
    assert.equal(reversed, text);
    assert.deepEqual(text.split('\n').slice(0, 5), [
      '# HELP alpha_total Things.',
      '# TYPE alpha_total counter',
      'alpha_total 3',
      'alpha_total{a="w",z="1"} 1.5',
      'alpha_total{a="x",z="1"} 2',
    ]);
    assert.ok(text.indexOf('hop="a"') < text.indexOf('hop="b"'));
  });

  it('writes only lines of the exposition grammar', () => {
    assertParses(renderPrometheusText(families));
    assertParses(
      renderPrometheusText([
        {
          name: 'edge_values',
          help: 'Edge values.',
          type: 'gauge',
          samples: [
            { labels: { v: 'inf' }, value: Infinity },
            { labels: { v: 'neg' }, value: -Infinity },
            { labels: { v: 'nan' }, value: NaN },
            { labels: { v: 'big' }, value: 1e21 },
            { labels: { v: 'tiny' }, value: -1.5e-7 },
          ],
        },
      ]),
    );
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(1e21), '1e+21');
  });

  it('writes HELP and TYPE for a family without samples', () => {
    assert.equal(
      renderPrometheusText([
        { name: 'empty_total', help: 'None yet.', type: 'counter', samples: [] },
      ]),
      '# HELP empty_total None yet.\n# TYPE empty_total counter\n',
    );
  });

  it('refuses what Prometheus would reject', () => {
    const refusals: MetricFamily[][] = [
      [{ name: '1bad', help: '', type: 'gauge', samples: [] }],
      [
        {
          name: 'ok',
          help: '',
          type: 'gauge',
          samples: [{ labels: { 'bad-label': 'x' }, value: 1 }],
        },
      ],
      [{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { __name__: 'x' }, value: 1 }] }],
      [
        {
          name: 'ok',
          help: '',
          type: 'gauge',
          samples: [
            { labels: { a: '1' }, value: 1 },
            { labels: { a: '1' }, value: 2 },
          ],
        },
      ],
      [
        { name: 'ok', help: '', type: 'gauge', samples: [] },
        { name: 'ok', help: '', type: 'counter', samples: [] },
      ],
      [
        {
          name: 'h',
          help: '',
          type: 'histogram',
          samples: [{ labels: { le: '1' }, buckets: [], sum: 0, count: 0 }],
        },
      ],
      [
        {
          name: 'h',
          help: '',
          type: 'histogram',
          samples: [
            {
              labels: {},
              buckets: [
                { le: 1, count: 3 },
                { le: 2, count: 2 },
              ],
              sum: 0,
              count: 3,
            },
          ],
        },
      ],
      [
        {
          name: 'h',
          help: '',
          type: 'histogram',
          samples: [{ labels: {}, buckets: [{ le: 1, count: 4 }], sum: 0, count: 3 }],
        },
      ],
      [
        {
          name: 'h',
          help: '',
          type: 'histogram',
          samples: [{ labels: {}, buckets: [{ le: Infinity, count: 1 }], sum: 0, count: 1 }],
        },
      ],
    ];
    for (const bad of refusals) {
      assert.throws(
        () => renderPrometheusText(bad),
        (e: unknown) => isBatonError(e) && e.code === 'internal',
        JSON.stringify(bad),
      );
    }
  });
});
