import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { formatIssuePath, parseInput } from '../../shared/domain/validation.js';
import { expectBatonError } from './batonErrorAssert.js';

const bodySchema = z.object({
  pipeline: z.string(),
  params: z.object({ count: z.number().int().min(1), label: z.string().default('none') }),
  items: z.array(z.object({ name: z.string().min(1) })).default([]),
  nested: z.object({ a: z.object({ b: z.array(z.number()) }) }).optional(),
});

function expectFieldError(value: unknown, where: string, field: string): string {
  const e = expectBatonError(() => parseInput(bodySchema, value, where));
  assert.equal(e.field, field);
  assert.ok(e.message.startsWith(`${field}: `), e.message);
  assert.ok(e.message.length > field.length + 2, 'the message says what is wrong');
  // A user-facing message: no stack frames, no dumped ZodError.
  assert.ok(!/\n\s+at /.test(e.message), e.message);
  assert.ok(!e.message.includes('ZodError'), e.message);
  assert.ok(!e.message.includes('\n'), e.message);
  return e.message;
}

describe('parseInput: errors name the field', () => {
  it('names a nested object field with the where prefix', () => {
    expectFieldError({ pipeline: 'p', params: { count: 'three' } }, 'body', 'body.params.count');
  });

  it('names an array element field with [index]', () => {
    expectFieldError(
      { pipeline: 'p', params: { count: 1 }, items: [{ name: 'a' }, { name: 'b' }, { name: '' }] },
      'body',
      'body.items[2].name',
    );
  });

  it('names deeply nested paths mixing keys and indices', () => {
    expectFieldError(
      { pipeline: 'p', params: { count: 1 }, nested: { a: { b: [1, 2, 'x'] } } },
      'body',
      'body.nested.a.b[2]',
    );
  });

  it('reports a missing required field', () => {
    expectFieldError({ params: { count: 1 } }, 'body', 'body.pipeline');
  });

  it('names the first offending field when several are wrong', () => {
    expectFieldError({ pipeline: 5, params: { count: 'x' }, items: [{}] }, 'body', 'body.pipeline');
  });

  it('uses the where prefix alone when the whole value is wrong', () => {
    expectFieldError(42, 'body', 'body');
    expectFieldError(null, 'pipeline.yaml', 'pipeline.yaml');
  });

  it('uses the path alone when where is empty', () => {
    expectFieldError({ pipeline: 'p', params: { count: 0 } }, '', 'params.count');
  });

  it('keeps a CLI-style where verbatim', () => {
    const e = expectBatonError(() => parseInput(z.number(), 'x', '--count'));
    assert.equal(e.field, '--count');
  });
});

describe('parseInput: success', () => {
  it('returns the parsed data with defaults filled in', () => {
    const out = parseInput(bodySchema, { pipeline: 'p', params: { count: 3 } }, 'body');
    assert.deepEqual(out, { pipeline: 'p', params: { count: 3, label: 'none' }, items: [] });
  });

  it('returns transformed output, not the input object', () => {
    const schema = z.object({ n: z.coerce.number() });
    const input = { n: '12', extra: true };
    const out = parseInput(schema, input, 'q');
    assert.deepEqual(out, { n: 12 });
  });
});

/** Reads a formatted path back into its parts (identifiers and [indices]). */
function parsePath(text: string): Array<string | number> {
  const parts: Array<string | number> = [];
  const re = /(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(text)) !== null) {
    parts.push(m[1] !== undefined ? m[1] : Number(m[2]));
    consumed = re.lastIndex;
  }
  assert.equal(consumed, text.length, `unparsed rest in ${text}`);
  return parts;
}

describe('formatIssuePath', () => {
  it('formats the documented shapes', () => {
    assert.equal(formatIssuePath([]), '');
    assert.equal(formatIssuePath(['params', 'count']), 'params.count');
    assert.equal(formatIssuePath(['items', 2, 'name']), 'items[2].name');
    assert.equal(formatIssuePath([0, 'name']), '[0].name');
    assert.equal(formatIssuePath(['grid', 1, 2]), 'grid[1][2]');
  });

  it('renders symbols by their description rather than failing', () => {
    assert.equal(formatIssuePath(['a', Symbol('s')]), 'a.Symbol(s)');
  });

  it('property: identifiers and indices read back to the same path', () => {
    const part = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/), fc.nat({ max: 999 }));
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
        const text = formatIssuePath(parts);
        assert.ok(!text.startsWith('.'), text);
        assert.ok(!text.includes('..'), text);
        assert.deepEqual(parsePath(text), parts);
      }),
      { numRuns: 200 },
    );
  });
});
