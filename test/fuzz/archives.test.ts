// Issue 10, "archives": every zip extraction in Baton (the land-use unpack, `baton landuse
// unpack`, and the databank component zips a sync downloads, shared/app/databankZip.ts) fed
// hostile archives built byte by byte: zip-slip names in every spelling, absolute and
// drive-letter entries, symlink entries (alone and followed by an entry written through them),
// zip bombs (declared ratio, lying headers, total size, entry count, overlapping entries) and
// duplicate names (exact, case, `//`, `./`, a file that is also a folder). Each must be refused
// as validation (or conflict), with nothing written outside the target folder and the target as
// before; a sentinel outside is never touched. Memory: a 1 GiB bomb is extracted in a child
// process, whose peak RSS must stay bounded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { crc32, deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractZip } from '../../shared/app/databankZip.js';
import { unpackLanduse } from '../../shared/app/unpackLanduse.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { recordTally } from '../campaign/tally.js';
import { repoRoot, runCli } from '../helpers/hostProcess.js';

// ---- a zip writer that writes whatever it is told ----------------------------------------------

interface RawEntry {
  name: string | Buffer;
  /** The bytes stored (already deflated when method is 8). */
  stored: Buffer;
  method?: 0 | 8;
  crc?: number;
  uncompressedSize?: number;
  /** Unix mode in the external attributes' high 16 bits (0o100644 by default). */
  mode?: number;
  /** Reuse an earlier entry's local header and data (overlapping-entry bombs). */
  sameDataAs?: number;
}

function deflated(data: Buffer): RawEntry {
  return {
    name: '',
    stored: deflateRawSync(data),
    method: 8,
    crc: crc32(data),
    uncompressedSize: data.length,
  };
}
function file(name: string, data: Buffer | string = 'x,y\n1,2\n'): RawEntry {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { ...deflated(bytes), name };
}

function buildZip(entries: RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  entries.forEach((entry, i) => {
    const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name, 'utf8');
    const method = entry.method ?? 0;
    const crc = entry.crc ?? crc32(entry.stored);
    const size = entry.uncompressedSize ?? entry.stored.length;
    const fields = (header: Buffer, at: number): void => {
      header.writeUInt16LE(20, at); // version needed
      header.writeUInt16LE(0x0800, at + 2); // UTF-8 names
      header.writeUInt16LE(method, at + 4);
      header.writeUInt16LE(0, at + 6); // time
      header.writeUInt16LE(0x21, at + 8); // date 1980-01-01
      header.writeUInt32LE(crc >>> 0, at + 10);
      header.writeUInt32LE(entry.stored.length, at + 14);
      header.writeUInt32LE(size, at + 18);
      header.writeUInt16LE(name.length, at + 22);
      header.writeUInt16LE(0, at + 24);
    };
    let localOffset: number;
    if (entry.sameDataAs !== undefined) {
      localOffset = offsets[entry.sameDataAs] ?? 0;
    } else {
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      fields(local, 4);
      localOffset = offset;
      locals.push(local, name, entry.stored);
      offset += local.length + name.length + entry.stored.length;
    }
    offsets[i] = localOffset;
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode bits count
    fields(central, 6);
    central.writeUInt16LE(0, 32); // comment length
    central.writeUInt16LE(0, 34);
    central.writeUInt16LE(0, 36);
    central.writeUInt32LE(((entry.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(localOffset, 42);
    centrals.push(central, name);
  });
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** `mib` MiB of zeros as raw deflate, built from one sync-flushed MiB repeated (cheap). */
function zeroBomb(mib: number): { stored: Buffer; crc: number; size: number } {
  const chunk = Buffer.alloc(1024 * 1024);
  const block = deflateRawSync(chunk, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const final = Buffer.from([0x03, 0x00]); // an empty final block
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = crc32(chunk, crc);
  return {
    stored: Buffer.concat([...Array.from({ length: mib }, () => block), final]),
    crc,
    size: mib * 1024 * 1024,
  };
}

// ---- the world ----------------------------------------------------------------------------------

const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'baton-archives-')));
const outside = path.join(base, 'outside');
const zips = path.join(base, 'zips');
const targets = path.join(base, 'targets');
for (const dir of [outside, zips, targets]) mkdirSync(dir, { recursive: true });
const sentinel = path.join(outside, '2017.csv');
const sentinelText = `SENTINEL-${randomBytes(8).toString('hex')}\n`;
writeFileSync(sentinel, sentinelText);
after(() => rmSync(base, { recursive: true, force: true }));

/** Every path below `dir` (files, folders and links), relative. */
function listAll(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    out.push(path.relative(dir, path.join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

const counts = { archives: 0, refused: 0, outside: 0, targetChanged: 0, wrongError: 0 };
const problems: string[] = [];
function problem(what: string): void {
  if (problems.length < 20) problems.push(what);
}

/** Everything under base except the targets folder (which each case checks itself). */
function outsideSnapshot(): string {
  return JSON.stringify(
    listAll(base)
      .filter(
        (p) =>
          !p.startsWith(`targets${path.sep}`) &&
          p !== 'targets' &&
          !p.startsWith(`zips${path.sep}`),
      )
      .map((p) => `${p}:${lstatSync(path.join(base, p)).size}`),
  );
}

let serial = 0;
interface Case {
  label: string;
  entries: RawEntry[];
  /** Files planted in the land-use output folder first (symlinks to outside among them). */
  plant?: (output: string) => void;
  limits?: Parameters<typeof unpackLanduse>[0]['limits'];
  /** Hostile to one extractor only (a planted output folder; names only land-use folds). */
  only?: 'unpackLanduse';
}

/** Runs one hostile archive through both extractors; counts what escaped or was accepted. */
async function attack(c: Case): Promise<void> {
  const zipFile = path.join(zips, `${serial++}.zip`);
  writeFileSync(zipFile, buildZip(c.entries));
  const before = outsideSnapshot();
  const landuseOut = path.join(targets, `landuse-${serial}`);
  mkdirSync(landuseOut);
  c.plant?.(landuseOut);
  const plantedBefore = listAll(landuseOut);
  const databankOut = path.join(targets, `databank-${serial}`);
  const runs: Array<[string, () => Promise<unknown>, string]> = [
    [
      'unpackLanduse',
      () =>
        unpackLanduse({
          input: zipFile,
          output: landuseOut,
          modelYear: 2017,
          ...(c.limits ? { limits: c.limits } : {}),
        }),
      landuseOut,
    ],
    [
      'extractZip',
      () =>
        extractZip(zipFile, databankOut, 'c.zip', {
          maxEntries: 1_000_000,
          maxTotalBytes: 256 * 1024 ** 3,
          maxEntryBytes: 256 * 1024 ** 3,
          maxRatio: 1100,
          ratioGraceBytes: 1024 * 1024,
          ...(c.limits ?? {}),
        }),
      databankOut,
    ],
  ];
  for (const [name, run, target] of runs) {
    if (c.only !== undefined && c.only !== name) continue;
    counts.archives += 1;
    let error: unknown;
    try {
      await run();
    } catch (caught) {
      error = caught;
    }
    if (error === undefined) {
      problem(`${name} accepted ${c.label}`);
    } else if (isBatonError(error, 'validation') || isBatonError(error, 'conflict')) {
      counts.refused += 1;
    } else {
      counts.wrongError += 1;
      problem(
        `${name} ${c.label}: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      );
    }
    // The target is as before: land-use's folder holds what was planted, the databank's is gone.
    const now = name === 'unpackLanduse' ? listAll(target) : safeList(target);
    const was = name === 'unpackLanduse' ? plantedBefore : undefined;
    if (JSON.stringify(now) !== JSON.stringify(was)) {
      counts.targetChanged += 1;
      problem(`${name} ${c.label}: target now ${JSON.stringify(now)}`);
    }
  }
  const afterSnap = outsideSnapshot();
  if (afterSnap !== before) {
    counts.outside += 1;
    problem(`${c.label}: outside changed ${afterSnap}`);
  }
  if (readFileSync(sentinel, 'utf8') !== sentinelText) {
    counts.outside += 1;
    problem(`${c.label}: sentinel changed`);
  }
  rmSync(landuseOut, { recursive: true, force: true });
}

function safeList(dir: string): string[] | undefined {
  try {
    statSync(dir);
  } catch {
    return undefined;
  }
  return listAll(dir);
}

// ---- the hostile archives -----------------------------------------------------------------------

const slipNames = (): string[] => {
  const rel = path.relative(path.join(targets, 'landuse-0', '2017'), sentinel);
  return [
    '../2017.csv',
    '../../2017.csv',
    '../../../outside/2017.csv',
    `${rel}`,
    `2017/${rel}`,
    '2017/../../2017.csv',
    './../2017.csv',
    'a/./../../2017.csv',
    '2017/a/../../../x2017.csv',
    '2017.csv/../../2017.csv',
    '..\\2017.csv',
    '2017\\..\\..\\x2017.csv',
    '..\\..\\outside\\2017.csv',
    '2017/..',
    '..',
    '2017/../..',
    '..//2017.csv',
    '.../../2017.csv',
  ];
};
const absoluteNames = [
  '/2017.csv',
  '/tmp/2017.csv',
  sentinel,
  `//${sentinel}`,
  '///etc/2017.csv',
  'C:/2017.csv',
  'C:\\2017.csv',
  'c:2017.csv',
  'Z:..\\2017.csv',
  '\\\\server\\share\\2017.csv',
  '\\2017.csv',
  '/',
];
const nulNames = ['2017.csv\0.txt', '2017/\0/x.csv', '\0../2017.csv'];

function hostileCases(): Case[] {
  const cases: Case[] = [];
  const good = file('2017/good.csv');
  for (const name of [...slipNames(), ...absoluteNames, ...nulNames]) {
    for (const position of ['alone', 'first', 'last'] as const) {
      const bad = file(name);
      const entries =
        position === 'alone'
          ? [bad]
          : position === 'first'
            ? [bad, good]
            : [good, file('2017/b.csv'), bad];
      cases.push({ label: `name ${JSON.stringify(name)} (${position})`, entries });
    }
    // The same name as raw bytes without the UTF-8 flag's help: a Latin-1 "..", an overlong "/".
  }
  for (const raw of [
    Buffer.from([0x2e, 0x2e, 0xc0, 0xaf, 0x32, 0x30, 0x31, 0x37]), // ..<overlong />2017
    Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x32, 0x30, 0x31, 0x37]), // overlong ../2017
    Buffer.from('..\u2215..\u22152017.csv'), // division-slash look-alikes (a literal name)
  ]) {
    const entry = { ...file(''), name: raw };
    cases.push({
      label: `raw name ${raw.toString('hex')} + slip`,
      entries: [entry, file('../2017.csv')],
    });
  }

  // Symlink entries: alone, pointing outside, and followed by an entry written through them.
  const link = (name: string, to: string): RawEntry => ({
    name,
    stored: Buffer.from(to),
    mode: 0o120777,
  });
  for (const to of ['../../outside', sentinel, '../2017.csv', '/etc/passwd', '.']) {
    cases.push({ label: `symlink 2017/l -> ${to}`, entries: [link('2017/l', to)] });
    cases.push({
      label: `symlink then through it -> ${to}`,
      entries: [link('2017/l', to), file('2017/l/2017.csv')],
    });
    cases.push({ label: `non-year symlink -> ${to}`, entries: [good, link('other/l', to)] });
  }
  for (const mode of [0o020644, 0o060644, 0o010644, 0o140644]) {
    cases.push({
      label: `special file mode ${mode.toString(8)}`,
      entries: [{ ...file('2017/dev.csv'), mode }],
    });
  }
  // A symlink already in the output folder (land-use writes into an existing folder).
  cases.push({
    label: 'planted output symlink to outside',
    entries: [file('l/2017.csv')],
    plant: (output) => symlinkSync(outside, path.join(output, 'l')),
    only: 'unpackLanduse',
  });
  cases.push({
    label: 'planted output symlink, nested',
    entries: [file('2017/l/2017.csv'), good],
    plant: (output) => {
      mkdirSync(path.join(output, '2017'));
      symlinkSync(outside, path.join(output, '2017', 'l'));
    },
    only: 'unpackLanduse',
  });
  cases.push({
    label: 'planted output file symlink to the sentinel',
    entries: [file('2017.csv', 'overwritten')],
    plant: (output) => symlinkSync(sentinel, path.join(output, '2017.csv')),
    only: 'unpackLanduse',
  });

  // Duplicates.
  const dupes: Array<[string, string]> = [
    ['2017/a.csv', '2017/a.csv'],
    ['2017/A.csv', '2017/a.csv'],
    ['2017/a.csv', '2017//a.csv'],
    ['2017/a.csv', './2017/a.csv'],
    ['2017/a.csv', '2017/./a.csv'],
    ['2017/a', '2017/a/b.csv'],
    ['2017/a/b.csv', '2017/a'],
  ];
  for (const [a, b] of dupes) {
    // Land-use output may land on a case-insensitive disk, so it folds case; a databank zip
    // mirrors a Linux folder, where A.csv and a.csv are two files.
    const only = a.toLowerCase() === b && a !== b ? ('unpackLanduse' as const) : undefined;
    cases.push({
      label: `duplicate ${a} + ${b}`,
      entries: [file(a, 'first'), file(b, 'second')],
      ...(only ? { only } : {}),
    });
  }
  cases.push({
    label: 'one name 50 times',
    entries: Array.from({ length: 50 }, (_, i) => file('2017/x.csv', `v${i}`)),
  });

  // Bombs.
  const zeros = zeroBomb(64);
  cases.push({
    label: 'ratio bomb (64 MiB of zeros, declared honestly)',
    entries: [
      {
        name: '2017/bomb.csv',
        stored: zeros.stored,
        method: 8,
        crc: zeros.crc,
        uncompressedSize: zeros.size,
      },
    ],
    // Component zips allow deflate's own ratio (~1030:1): byte limits stop their bombs.
    only: 'unpackLanduse',
  });
  cases.push({
    label: 'lying header (declares 1000 bytes, holds 64 MiB)',
    entries: [
      {
        name: '2017/bomb.csv',
        stored: zeros.stored,
        method: 8,
        crc: zeros.crc,
        uncompressedSize: 1000,
      },
    ],
  });
  cases.push({
    label: 'lying header (declares 0 bytes)',
    entries: [
      {
        name: '2017/bomb.csv',
        stored: zeros.stored,
        method: 8,
        crc: zeros.crc,
        uncompressedSize: 0,
      },
    ],
  });
  cases.push({
    label: 'declared size over the limit (4 GiB - 1)',
    entries: [{ ...file('2017/big.csv'), uncompressedSize: 0xfffffffe }],
    limits: { maxEntryBytes: 1024 ** 3, maxTotalBytes: 1024 ** 3 },
  });
  const noise = randomBytes(3 * 1024 * 1024);
  cases.push({
    label: 'total size over the limit (3 x 3 MiB incompressible, limit 8 MiB)',
    entries: [0, 1, 2].map((i) => ({ ...deflated(noise), name: `2017/n${i}.csv` })),
    limits: { maxTotalBytes: 8 * 1024 * 1024 },
  });
  cases.push({
    label: 'overlapping entries (200 records, one 8 MiB body, limit 64 MiB)',
    entries: (() => {
      const eight = zeroBomb(8);
      const first: RawEntry = {
        name: '2017/o0.csv',
        stored: eight.stored,
        method: 8,
        crc: eight.crc,
        uncompressedSize: eight.size,
      };
      return [
        first,
        ...Array.from({ length: 199 }, (_, i) => ({
          ...first,
          name: `2017/o${i + 1}.csv`,
          sameDataAs: 0,
        })),
      ];
    })(),
    limits: { maxTotalBytes: 64 * 1024 * 1024, maxRatio: 100_000 },
  });
  cases.push({
    label: 'entry count over the limit (101 entries, limit 100)',
    entries: Array.from({ length: 101 }, (_, i) => file(`2017/f${i}.csv`)),
    limits: { maxEntries: 100 },
  });
  cases.push({
    label: 'unknown compression method',
    entries: [{ ...file('2017/m.csv'), method: 9 as 0 }],
  });
  return cases;
}

// ---- the tests ----------------------------------------------------------------------------------

describe('hostile archives (fuzz)', () => {
  it('every extraction refuses them; nothing is written outside the target', async () => {
    const cases = hostileCases();
    for (const c of cases) await attack(c);
    const outsideNow = listAll(outside);
    recordTally({
      item: 'archives',
      measure: 'hostile archives',
      count: counts.archives,
      required: '>= 200',
    });
    recordTally({
      item: 'archives',
      measure: 'accepted or wrong error',
      count: counts.archives - counts.refused,
      required: '= 0',
    });
    recordTally({
      item: 'archives',
      measure: 'targets left changed',
      count: counts.targetChanged,
      required: '= 0',
    });
    recordTally({
      item: 'archives',
      measure: 'files written outside target',
      count: counts.outside,
      required: '= 0',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(outsideNow, ['2017.csv']);
    assert.equal(counts.refused, counts.archives);
  });

  it('baton landuse unpack refuses a zip-slip and a symlink archive (exit 2, nothing written)', async () => {
    for (const entries of [
      [file('2017/ok.csv'), file('../../outside/2017.csv')],
      [{ name: '2017/l', stored: Buffer.from(outside), mode: 0o120777 }, file('2017/l/x.csv')],
    ]) {
      const zipFile = path.join(zips, `cli-${serial++}.zip`);
      writeFileSync(zipFile, buildZip(entries));
      const output = path.join(targets, `cli-${serial}`);
      const before = outsideSnapshot();
      const result = await runCli([
        'landuse',
        'unpack',
        '--model-year',
        '2017',
        '--input',
        zipFile,
        '--output',
        output,
      ]);
      counts.archives += 1;
      recordTally({ item: 'archives', measure: 'hostile archives', count: 1, required: '>= 200' });
      const escaped =
        outsideSnapshot() !== before || readFileSync(sentinel, 'utf8') !== sentinelText ? 1 : 0;
      recordTally({
        item: 'archives',
        measure: 'files written outside target',
        count: escaped,
        required: '= 0',
      });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /refused/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(safeList(output) ?? [], []);
      assert.equal(escaped, 0);
    }
  });

  it('memory stays bounded: a 1 GiB bomb with a lying header, extracted in a child process', () => {
    const bomb = zeroBomb(1024);
    const zipFile = path.join(zips, 'gib.zip');
    // Declares 96 MiB (within the limits given), holds 1 GiB: inflated until the lie shows.
    writeFileSync(
      zipFile,
      buildZip([
        {
          name: '2017/bomb.csv',
          stored: bomb.stored,
          method: 8,
          crc: bomb.crc,
          uncompressedSize: 96 * 1024 * 1024,
        },
      ]),
    );
    const honest = path.join(zips, 'gib-honest.zip');
    writeFileSync(
      honest,
      buildZip([
        {
          name: '2017/bomb.csv',
          stored: bomb.stored,
          method: 8,
          crc: bomb.crc,
          uncompressedSize: bomb.size,
        },
      ]),
    );
    const script = path.join(base, 'measure.mts');
    const unpackUrl = new URL(`file://${path.join(repoRoot, 'shared', 'app', 'unpackLanduse.ts')}`)
      .href;
    const zipUrl = new URL(`file://${path.join(repoRoot, 'shared', 'app', 'databankZip.ts')}`).href;
    writeFileSync(
      script,
      `import { unpackLanduse } from ${JSON.stringify(unpackUrl)};
import { extractZip } from ${JSON.stringify(zipUrl)};
const [lying, honest, out] = process.argv.slice(2);
const mib = () => process.resourceUsage().maxRSS / 1024;
const heap = () => process.memoryUsage().heapUsed / 1024 / 1024;
const before = { rss: mib(), heap: heap() };
const results = [];
const limits = { maxRatio: 1e9, maxTotalBytes: 256 * 1024 ** 2, maxEntryBytes: 256 * 1024 ** 2 };
for (const [label, run] of [
  ['landuse lying', () => unpackLanduse({ input: lying, output: out + '/a', modelYear: 2017, limits })],
  ['landuse honest', () => unpackLanduse({ input: honest, output: out + '/b', modelYear: 2017 })],
  ['databank lying', () => extractZip(lying, out + '/c', 'c.zip', { ...limits, maxEntries: 10, ratioGraceBytes: 1 })],
]) {
  let outcome = 'accepted';
  try { await run(); } catch (e) { outcome = e.code ?? String(e); }
  results.push({ label, outcome, heapMiB: heap() });
}
console.log(JSON.stringify({ before, peakRssMiB: mib(), results }));
`,
    );
    const out = path.join(targets, 'memory');
    mkdirSync(out);
    const before = outsideSnapshot();
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, zipFile, honest, out], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
      before: { rss: number; heap: number };
      peakRssMiB: number;
      results: Array<{ label: string; outcome: string; heapMiB: number }>;
    };
    const growth = report.peakRssMiB - report.before.rss;
    recordTally({
      item: 'archives',
      measure: 'peak RSS growth, 1 GiB bomb (MiB)',
      count: Math.round(growth),
    });
    recordTally({
      item: 'archives',
      measure: 'peak RSS of the extraction child (MiB)',
      count: Math.round(report.peakRssMiB),
    });
    recordTally({
      item: 'archives',
      measure: 'hostile archives',
      count: report.results.length,
      required: '>= 200',
    });
    const leftOver = listAll(out);
    const escaped = outsideSnapshot() !== before || readFileSync(sentinel, 'utf8') !== sentinelText;
    recordTally({
      item: 'archives',
      measure: 'files written outside target',
      count: escaped ? 1 : 0,
      required: '= 0',
    });
    for (const result of report.results)
      assert.equal(result.outcome, 'validation', JSON.stringify(report));
    assert.deepEqual(
      leftOver.filter((p) => !['a', 'b'].includes(p)),
      [],
      'nothing left behind',
    );
    assert.equal(escaped, false);
    assert.ok(growth < 128, `peak RSS grew by ${growth.toFixed(0)} MiB for a 1 GiB bomb`);
  });
});
