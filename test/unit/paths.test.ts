import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isInsidePath, normalizeLakePath, resolveInside } from '../../shared/domain/paths.js';
import { expectBatonError } from './batonErrorAssert.js';

const runs = { numRuns: 200 };

// A name segment: printable characters other than '/', '\' and NUL, never '.' or '..'
// (dots inside names such as `..data` or `a.b` are legitimate file names).
const segmentChar = fc.constantFrom(...'abcXYZ019_-. ~+@%é中'.split(''));
const segment = fc
  .string({ unit: segmentChar, minLength: 1, maxLength: 8 })
  .filter((s) => s !== '.' && s !== '..');
const segments = fc.array(segment, { minLength: 0, maxLength: 6 });

/** Joins segments with noise a user may type: doubled slashes, `./` parts, a trailing slash. */
const noisyRelative = fc
  .tuple(
    segments,
    fc.array(fc.constantFrom('/', '//', '/./'), { minLength: 7, maxLength: 7 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([segs, seps, leadingDot, trailing]) => {
    let out = leadingDot ? './' : '';
    segs.forEach((s, i) => {
      out += (i === 0 ? '' : (seps[i] ?? '/')) + s;
    });
    // A trailing slash only after something, or the path would start with '/'.
    return { segs, text: out + (trailing && out !== '' ? '/' : '') };
  });

const roots = fc.constantFrom(
  path.join(os.tmpdir(), 'baton-lake'),
  path.join(os.tmpdir(), 'a', '..', 'b', 'lake') + path.sep,
  'relative-lake',
  './x/y',
);

/** Inserts `bad` at some position of a generated safe path. */
const withInsert = (bad: fc.Arbitrary<string>) =>
  fc.tuple(segments, bad, fc.nat()).map(([segs, b, at]) => {
    const text = segs.join('/');
    const i = text.length === 0 ? 0 : at % (text.length + 1);
    return text.slice(0, i) + b + text.slice(i);
  });

describe('normalizeLakePath: examples', () => {
  it('drops empty and . segments and trailing slashes', () => {
    assert.equal(normalizeLakePath('a//b/./c/'), 'a/b/c');
    assert.equal(normalizeLakePath('./raw/2024'), 'raw/2024');
  });

  it('returns empty for the root itself', () => {
    for (const root of ['', '.', './', './/./']) assert.equal(normalizeLakePath(root), '');
  });

  it('keeps names that merely contain dots', () => {
    assert.equal(normalizeLakePath('..data/v1.2/file..txt/...'), '..data/v1.2/file..txt/...');
  });

  it('names the field in the error', () => {
    const e = expectBatonError(() => normalizeLakePath('../etc', 'body.path'));
    assert.equal(e.field, 'body.path');
    assert.ok(e.message.startsWith('body.path: '), e.message);
    assert.equal(expectBatonError(() => normalizeLakePath('/etc')).field, 'path');
  });
  it('refuses lone surrogates: the file system would store U+FFFD, aliasing two paths', () => {
    for (const bad of ['users/a\uD800b', 'x/\uDFFF', '\uDBFF/y']) {
      assert.match(expectBatonError(() => normalizeLakePath(bad)).message, /lone surrogates/);
    }
    assert.equal(normalizeLakePath('users/😀/中'), 'users/😀/中');
  });
});

describe('normalizeLakePath: properties', () => {
  it('the result is the non-empty segments joined by single slashes', () => {
    fc.assert(
      fc.property(noisyRelative, ({ segs, text }) => {
        assert.equal(normalizeLakePath(text), segs.join('/'));
      }),
      runs,
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(noisyRelative, ({ text }) => {
        const once = normalizeLakePath(text);
        assert.equal(normalizeLakePath(once), once);
      }),
      runs,
    );
  });

  it('never returns a leading slash, an empty segment or a dot segment', () => {
    fc.assert(
      fc.property(noisyRelative, ({ text }) => {
        const out = normalizeLakePath(text);
        if (out === '') return;
        for (const part of out.split('/'))
          assert.ok(part !== '' && part !== '.' && part !== '..', out);
      }),
      runs,
    );
  });

  it('rejects any path with a .. segment', () => {
    const dotDot = fc
      .tuple(segments, segments, fc.constantFrom('..', '../', '/..', '/../'))
      .map(([a, b, mid]) => `${a.join('/')}${mid}${b.join('/')}`)
      .filter((s) => s.split('/').includes('..'));
    fc.assert(
      fc.property(dotDot, (text) => {
        expectBatonError(() => normalizeLakePath(text));
      }),
      runs,
    );
  });

  it('rejects absolute paths (leading /)', () => {
    fc.assert(
      fc.property(noisyRelative, ({ text }) => {
        expectBatonError(() => normalizeLakePath(`/${text}`));
      }),
      runs,
    );
  });

  it('rejects a backslash anywhere', () => {
    fc.assert(
      fc.property(withInsert(fc.constantFrom('\\', '..\\', '\\\\server\\share')), (text) => {
        expectBatonError(() => normalizeLakePath(text));
      }),
      runs,
    );
  });

  it('rejects NUL anywhere', () => {
    fc.assert(
      fc.property(withInsert(fc.constant('\0')), (text) => {
        expectBatonError(() => normalizeLakePath(text));
      }),
      runs,
    );
  });
});

describe('resolveInside', () => {
  it('resolves under an absolute root', () => {
    const root = path.join(os.tmpdir(), 'lake');
    assert.equal(resolveInside(root, 'raw/a.csv'), path.join(root, 'raw', 'a.csv'));
    assert.equal(resolveInside(root, ''), root);
    assert.equal(resolveInside(root + path.sep, './'), root);
  });

  it('rejects escapes with a validation error naming the field', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a\\..\\..\\x', 'a\0b']) {
      const e = expectBatonError(() => resolveInside('/srv/lake', bad, 'relPath'));
      assert.equal(e.field, 'relPath', bad);
    }
  });

  it('property: the result is the root or strictly inside it, at the normalised relative path', () => {
    fc.assert(
      fc.property(roots, noisyRelative, (root, { text }) => {
        const absRoot = path.resolve(root);
        const out = resolveInside(root, text);
        assert.ok(path.isAbsolute(out), out);
        assert.ok(
          out === absRoot || out.startsWith(absRoot + path.sep),
          `${out} not inside ${absRoot}`,
        );
        const rel = path.relative(absRoot, out);
        assert.ok(rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel), rel);
        assert.equal(rel.split(path.sep).join('/'), normalizeLakePath(text));
      }),
      runs,
    );
  });

  it('property: anything normalizeLakePath rejects, resolveInside rejects too', () => {
    const bad = fc.oneof(
      withInsert(fc.constantFrom('\\', '\0')),
      noisyRelative.map(({ text }) => `/${text}`),
      fc.tuple(segments, segments).map(([a, b]) => [...a, '..', ...b].join('/')),
    );
    fc.assert(
      fc.property(roots, bad, (root, text) => {
        expectBatonError(() => resolveInside(root, text));
      }),
      runs,
    );
  });

  it('accepts paths under the filesystem root itself', () => {
    const fsRoot = path.parse(process.cwd()).root;
    assert.equal(resolveInside(fsRoot, 'a/b'), path.join(fsRoot, 'a', 'b'));
  });
});

describe('lake path length limits', () => {
  it('refuses a name over 255 bytes and a path over 1024 characters, naming the field', () => {
    assert.equal(normalizeLakePath('a'.repeat(255)), 'a'.repeat(255));
    assert.match(
      expectBatonError(() => normalizeLakePath(`x/${'a'.repeat(256)}`, 'p')).message,
      /^p: each name/,
    );
    assert.match(expectBatonError(() => normalizeLakePath('é'.repeat(128))).message, /255 bytes/);
    const long = Array.from({ length: 5 }, () => 'b'.repeat(250)).join('/');
    assert.match(expectBatonError(() => normalizeLakePath(long)).message, /1024 characters/);
  });
});

describe('isInsidePath', () => {
  it('is lexical containment, right for the file-system root too', () => {
    assert.equal(isInsidePath('/a/b', '/a/b'), true);
    assert.equal(isInsidePath('/a/b', '/a/b/c/d'), true);
    assert.equal(isInsidePath('/a/b', '/a/bc'), false);
    assert.equal(isInsidePath('/a/b', '/a'), false);
    assert.equal(isInsidePath('/a/b', '/a/b/../c'), false);
    assert.equal(isInsidePath('/', '/databanks'), true);
    assert.equal(isInsidePath('/', '/'), true);
  });
});
