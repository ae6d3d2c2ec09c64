import fc from 'fast-check';

/**
 * Seeded generators of hostile input shared by the fuzz suites: strings a caller might send in a
 * name, a path segment, a query value or a flag, and JSON values of every wrong shape. Each suite
 * draws from them with `fc.sample(arbitrary, { seed, numRuns })`, so a failure names its seed and
 * replays exactly.
 */
export const fuzzSeed = Number(process.env.BATON_FUZZ_SEED ?? 20_260_610);

/** Hand-picked classics: traversal, encodings, injection, option-like, look-alikes, control. */
export const classicHostileStrings = [
  '',
  ' ',
  '..',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f',
  '%252e%252e%252f',
  '%c0%ae%c0%ae/',
  '/etc/passwd',
  'C:\\Windows',
  'a\0b',
  '$(id)',
  '`id`',
  '; rm -rf /',
  '| cat /etc/passwd',
  '&& echo pwned',
  '-rf',
  '--foo',
  '--help',
  '-',
  '\n',
  'line\r\nInjected: header',
  '\u202e\u0067\u006e\u0070',
  'ｕｓｅｒ．ａｌｉｃｅ',
  'user.alice.\u0430',
  '__proto__',
  'constructor',
  'prototype',
  'null',
  'undefined',
  'NaN',
  '-1',
  '0',
  '1e309',
  '99999999999999999999999',
  '0x10',
  'true',
  '{}',
  '[]',
  '{"a":1}',
  '<script>alert(1)</script>',
  "' OR '1'='1",
  '${jndi:ldap://x}',
  '%s%s%s%n',
  '\ud800',
  '\uffff',
  '😀'.repeat(50),
  'x'.repeat(300),
  'user.alice.' + 'x'.repeat(250),
  'user.',
  'user..x',
  'user.Alice.x',
  'user.alice.x/../../y',
  'user.alice.x\\y',
];

/** Any hostile string: a classic, a random unicode string, a long one, or option-like. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...classicHostileStrings) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 5 }).map((s) => `--${s}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => 'a'.repeat(n)) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom('..', '.', '%2e%2e', '..%2f', 'a', '%00', '\\'), { maxLength: 8 })
      .map((parts) => parts.join('/')),
  },
);

/** A string safe to put in an HTTP header value (latin-1 printable, no CR/LF). */
export const headerSafe = (value: string): string =>
  value.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);

/** A JSON value of any shape, including huge and deeply nested ones. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      null,
      true,
      false,
      0,
      -1,
      1e308,
      -1e308,
      Number.MAX_SAFE_INTEGER + 2,
      0.5,
      [],
      {},
      [null],
      { __proto__: { polluted: true } },
      JSON.parse('{"__proto__":{"polluted":true}}') as unknown,
      { constructor: { prototype: { polluted: true } } },
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 3000 }).map((d) => nested(d)) },
);

/** `[[[…]]]` or `{"a":{"a":…}}` `depth` levels deep. */
export function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

/** A value of a different JSON type than `value` (a mutation that is never type-correct). */
export function wrongTypeFor(value: unknown, pick: number): unknown {
  const candidates: unknown[] = [
    'not-a-' + typeof value,
    12345,
    -1.5,
    true,
    null,
    [value],
    { value },
    'x'.repeat(100_000),
    1e308,
  ];
  const typeOf = (v: unknown): string =>
    v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  const different = candidates.filter((c) => typeOf(c) !== typeOf(value));
  return different[pick % different.length];
}
